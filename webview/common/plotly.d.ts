// The few plotly calls the webviews make (the strict dist bundle ships no types).
declare module 'plotly.js-strict-dist-min' {
  interface PlotlyStatic {
    react(root: HTMLElement, data: Array<Record<string, unknown>>, layout?: Record<string, unknown>, config?: Record<string, unknown>): Promise<HTMLElement>;
    purge(root: HTMLElement): void;
    Plots: { resize(root: HTMLElement): void };
  }
  const Plotly: PlotlyStatic;
  export default Plotly;
}
