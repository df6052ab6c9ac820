// Subspaces of an activation (issue #16): the interchange h' = h + R R^T (h_source - h) that DAS learns and
// the engine applies (as an analysis' edit or as a `subspace` intervention), and keeping R's columns
// orthonormal. R is [dim, rank] row-major. Pure arithmetic in float64: shared by the engine (DAS, probes,
// interventions) and by the host, which checks a subspace before offering it as an intervention.

/**
 * Columns of R ([d, k] row-major) made orthonormal in place: modified Gram-Schmidt, two passes. Returns false
 * (R then partly changed) when a column lies in the span of the ones before it: below 1e-6 of its own norm
 * after projecting them out, or not finite.
 */
export function orthonormalizeColumns(R: Float64Array, d: number, k: number): boolean {
  for (let j = 0; j < k; j++) {
    let before = 0;
    for (let r = 0; r < d; r++) before += R[r * k + j]! ** 2;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let r = 0; r < d; r++) dot += R[r * k + i]! * R[r * k + j]!;
        for (let r = 0; r < d; r++) R[r * k + j]! -= dot * R[r * k + i]!;
      }
    }
    let norm = 0;
    for (let r = 0; r < d; r++) norm += R[r * k + j]! ** 2;
    norm = Math.sqrt(norm);
    if (!(norm > 1e-30) || !(norm > 1e-6 * Math.sqrt(before))) return false;
    for (let r = 0; r < d; r++) R[r * k + j]! /= norm;
  }
  return true;
}

/** Frobenius norm of R^T R - I (float64 accumulation). */
export function orthogonalityError(R: ArrayLike<number>, d: number, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += R[r * k + i]! * R[r * k + j]!;
      s += (dot - (i === j ? 1 : 0)) ** 2;
    }
  }
  return Math.sqrt(s);
}

/**
 * h_base + R R^T (h_source - h_base) at each position (`base` and `source` hold whole vectors of `dim`), R
 * [dim, k] row-major with orthonormal columns (float64 accumulation). With `source` all zeros it projects the
 * subspace out: h - R R^T h.
 */
export function subspaceInterchange(base: Float32Array, source: Float32Array, R: ArrayLike<number>, dim: number, k: number, out = new Float32Array(base.length)): Float32Array {
  const c = new Float64Array(k);
  for (let p = 0; p * dim < base.length; p++) {
    const o = p * dim;
    c.fill(0);
    for (let i = 0; i < dim; i++) {
      const d = source[o + i]! - base[o + i]!;
      for (let j = 0; j < k; j++) c[j]! += R[i * k + j]! * d;
    }
    for (let i = 0; i < dim; i++) {
      let u = 0;
      for (let j = 0; j < k; j++) u += R[i * k + j]! * c[j]!;
      out[o + i] = base[o + i]! + u;
    }
  }
  return out;
}

/** Above this ‖RᵀR − I‖ a basis is reported as orthonormalised (a saved DAS subspace is ~1e-7). */
export const ORTHONORMAL_TOLERANCE = 1e-4;

/**
 * An intervention's basis (`dim` rows of `rank` numbers) as R [dim, rank] with orthonormal columns spanning the
 * same subspace, and ‖RᵀR − I‖ of the basis as given (above ORTHONORMAL_TOLERANCE it was orthonormalised).
 * Null when its columns are linearly dependent. The shape is checked by validateIntervention first.
 */
export function orthonormalBasis(basis: readonly (readonly number[])[]): { R: Float64Array; dim: number; rank: number; error: number } | null {
  const dim = basis.length;
  const rank = basis[0]?.length ?? 0;
  const R = new Float64Array(dim * rank);
  basis.forEach((row, i) => row.forEach((x, j) => (R[i * rank + j] = x)));
  const error = orthogonalityError(R, dim, rank);
  return orthonormalizeColumns(R, dim, rank) ? { R, dim, rank, error } : null;
}
