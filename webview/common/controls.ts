// Plain controls shared by the views, with no plotting library behind them (the graph view draws on canvas
// and must not pull plotly into its bundle): a select, a captioned control, a status line.
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import { el } from './dom';

/** A text field or select of @vscode-elements: an element with a string value. */
export interface ValueElement extends HTMLElement {
  value: string;
}

/** A vscode-single-select with `options` ([value, label]); `onChange` gets the chosen value. */
export function select(id: string, title: string, options: ReadonlyArray<readonly [string, string]>, onChange: (value: string) => void): ValueElement {
  const s = el('vscode-single-select', { id, title }) as ValueElement;
  for (const [v, label] of options) s.append(el('vscode-option', { value: v }, label));
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

/** A caption and its control, kept together when the toolbar wraps. */
export function labelled(caption: string, control: HTMLElement): HTMLElement {
  const label = el('label', {}, caption);
  label.append(control);
  return label;
}

export function setStatus(node: HTMLElement, text: string, error = false): void {
  node.textContent = text;
  node.classList.toggle('error', error);
}
