// How token strings are shown: whitespace made visible so a chip for " " or "\n" is not blank.
// Pure functions (unit-tested); the DOM code puts the result in textContent, never innerHTML.

const VISIBLE: Record<string, string> = { ' ': '·', '\n': '↵', '\t': '→', '\r': '␍' };

export function displayToken(text: string): string {
  if (text.length === 0) return '∅';
  return Array.from(text, (ch) => VISIBLE[ch] ?? ch).join('');
}

export function formatProb(p: number): string {
  if (!Number.isFinite(p)) return '–';
  if (p >= 0.1) return `${(p * 100).toFixed(1)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(2)}%`;
  if (p >= 1e-6) return `${(p * 100).toPrecision(2)}%`;
  return p.toExponential(1);
}
