// What a user types to name tokens (pure, unit-tested): the lens' target box and the DLA's target fields.

/**
 * Parses the target box: comma-separated words, each trimmed and given a leading space (the usual form
 * of a word inside a sentence for GPT-2-style tokenizers); `=text` uses text exactly (`=Mary`, `= Mary`).
 */
export function parseTargets(input: string): string[] {
  return input
    .split(',')
    .map((s) => {
      const t = s.trim();
      if (t.startsWith('=')) return s.slice(s.indexOf('=') + 1);
      return t.length ? ` ${t}` : '';
    })
    .filter((s) => s.length > 0);
}
