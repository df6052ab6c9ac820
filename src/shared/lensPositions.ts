// The logit lens panel's first paint (issue #13): the positions on screen are decoded first and sent on their
// own, the others after. Which positions a panel shows (its window), and how results of some positions are laid
// out over all of them, live here so the host (which asks the engine) and the webview (which draws the window)
// agree. Runtime-agnostic.
import type { LensResult } from './protocol';

/** Narrowest heatmap cell the panel draws (CSS px): three characters of a token at the editor's font size. */
export const MIN_LENS_CELL_PX = 28;

/** The `count` consecutive positions of a `T`-token prompt shown around `focus` (default: the last ones). */
export function lensWindow(T: number, count: number, focus?: number): { start: number; end: number } {
  const n = Math.max(1, Math.min(count, T));
  const end = Math.min(T - 1, Math.max(focus ?? T - 1, n - 1));
  return { start: Math.max(0, end - n + 1), end };
}

type LensPart = Pick<LensResult, 'top' | 'targets' | 'positions'>;

/**
 * Results of some positions (each with its `positions`) laid out over all `T`, as a whole result has them;
 * positions no part holds get empty cells. Without `positions`, a part holds every position.
 */
export function mergeLensParts<R extends LensPart>(parts: readonly R[], T: number): Omit<R, 'positions'> {
  const first = parts[0]!;
  const top = first.top.map(() => Array.from({ length: T }, (): LensResult['top'][number][number] => []));
  const targets = first.targets?.map(() => Array.from({ length: T }, (): NonNullable<LensResult['targets']>[number][number] => []));
  for (const part of parts) {
    const positions = part.positions ?? Array.from({ length: T }, (_, p) => p);
    part.top.forEach((layer, l) => layer.forEach((cell, i) => (top[l]![positions[i]!] = cell)));
    if (targets) part.targets?.forEach((layer, l) => layer.forEach((cell, i) => (targets[l]![positions[i]!] = cell)));
  }
  const { positions: _positions, ...rest } = first;
  return { ...rest, top, ...(targets ? { targets } : {}) };
}
