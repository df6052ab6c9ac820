// Theme helper: reads VS Code's --vscode-* CSS variables and builds a plotly layout template that
// follows light, dark and high-contrast themes. `chartLayout` is pure (unit-tested); `readTheme` reads the DOM.

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface ThemeColors {
  kind: ThemeKind;
  foreground: string;
  background: string;
  accent: string;
  muted: string;
  grid: string;
  border: string;
  fontFamily: string;
  fontSize: number;
}

export function themeKindFromClasses(classes: readonly string[]): ThemeKind {
  if (classes.includes('vscode-high-contrast-light')) return 'high-contrast-light';
  if (classes.includes('vscode-high-contrast')) return 'high-contrast';
  if (classes.includes('vscode-light')) return 'light';
  return 'dark';
}

const FALLBACK: Record<ThemeKind, Omit<ThemeColors, 'kind' | 'fontFamily' | 'fontSize'>> = {
  light: { foreground: '#3b3b3b', background: '#ffffff', accent: '#005fb8', muted: '#767676', grid: '#e5e5e5', border: '#cecece' },
  dark: { foreground: '#cccccc', background: '#1f1f1f', accent: '#3794ff', muted: '#9d9d9d', grid: '#3c3c3c', border: '#454545' },
  'high-contrast': { foreground: '#ffffff', background: '#000000', accent: '#f38518', muted: '#ffffff', grid: '#6fc3df', border: '#6fc3df' },
  'high-contrast-light': { foreground: '#292929', background: '#ffffff', accent: '#0f4a85', muted: '#292929', grid: '#0f4a85', border: '#0f4a85' },
};

/** Reads the current theme from the body's classes and --vscode-* variables. */
export function readTheme(): ThemeColors {
  const kind = themeKindFromClasses(Array.from(document.body.classList));
  const style = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const f = FALLBACK[kind];
  return {
    kind,
    foreground: v('--vscode-editor-foreground', f.foreground),
    background: v('--vscode-editor-background', f.background),
    accent: v('--vscode-charts-blue', f.accent),
    muted: v('--vscode-descriptionForeground', f.muted),
    grid: v('--vscode-editorWidget-border', f.grid),
    border: v('--vscode-contrastBorder', f.border),
    fontFamily: v('--vscode-font-family', 'sans-serif'),
    fontSize: Number.parseFloat(v('--vscode-font-size', '13')) || 13,
  };
}

/** A plotly layout template for the theme (transparent backgrounds: the webview's own shows through). */
export function chartLayout(t: ThemeColors): Record<string, unknown> {
  const hc = t.kind === 'high-contrast' || t.kind === 'high-contrast-light';
  const axis = { color: t.foreground, gridcolor: t.grid, zerolinecolor: hc ? t.border : t.grid, linecolor: hc ? t.border : t.grid, automargin: true };
  return {
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { family: t.fontFamily, size: t.fontSize, color: t.foreground },
    xaxis: { ...axis },
    yaxis: { ...axis },
    hoverlabel: { bgcolor: t.background, bordercolor: t.accent, font: { color: t.foreground } },
    margin: { l: 8, r: 16, t: 8, b: 32 },
  };
}

/** Calls `onChange` when VS Code switches theme (it swaps the body's classes). */
export function onThemeChange(onChange: () => void): void {
  new MutationObserver(onChange).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
