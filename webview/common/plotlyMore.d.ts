// Further plotly calls the analysis views make (image export, click and hover events on a plot's div).
// (plotly.d.ts does not export its PlotlyStatic interface, so these are global and cast to.)
export {};

declare global {
  interface PlotlyImageApi {
    toImage(root: HTMLElement, options: { format: 'png' | 'svg'; width?: number; height?: number; scale?: number }): Promise<string>;
  }
  /** A plotly event point: the indices of the clicked or hovered cell. */
  interface PlotlyPoint {
    x: number | string;
    y: number | string;
    pointIndex?: number | number[];
    curveNumber: number;
  }
  interface PlotlyEventTarget extends HTMLElement {
    on(event: 'plotly_click' | 'plotly_hover', handler: (e: { points: PlotlyPoint[] }) => void): void;
    removeAllListeners?(event: string): void;
  }
}
