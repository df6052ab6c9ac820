// The encoder of a sparse dictionary (transcoder or SAE) as ONNX nodes: pre = x @ W_encᵀ + b_enc, then the
// activation. Shared by TranscoderRunner and the SAE runner so both apply an activation the same way.
import type { GraphBuilder } from '../../onnx/graphBuilder';

export type EncoderActivation =
  | { kind: 'relu' }
  | { kind: 'jumprelu'; threshold: string }
  /** TopK keeps the k largest pre-activations per row and zeroes the rest; `relu` also clamps kept values at 0 (SAELens). */
  | { kind: 'topk'; k: number; relu?: boolean };

/** Adds the encoder; `W_enc` is [d_out, d_in] (rows are encoder vectors), `x` is [n, d_in]. Returns the activations. */
export function addEncoder(g: GraphBuilder, x: string, W_enc: string, b_enc: string, activation: EncoderActivation, outputName?: string): string {
  const pre = g.op1('Gemm', [x, W_enc, b_enc], { transB: 1 });
  switch (activation.kind) {
    case 'relu':
      return g.op1('Relu', [pre], {}, outputName);
    case 'jumprelu': {
      // x · (x > θ): strictly greater, as circuit-tracer and GemmaScope.
      const above = g.op1('Greater', [pre, activation.threshold]);
      return g.op1('Where', [above, pre, g.constF([0], [])], {}, outputName);
    }
    case 'topk': {
      // Exactly k per row, ties included: the k values TopK picks are scattered into zeros at their indices.
      const [values, indices] = g.op('TopK', [pre, g.constI64([activation.k])], { axis: -1, largest: 1, sorted: 0 }, 2) as [string, string];
      const kept = activation.relu ? g.op1('Relu', [values]) : values;
      const zeros = g.op1('ConstantOfShape', [g.op1('Shape', [pre])]);
      return g.op1('ScatterElements', [zeros, indices, kept], { axis: -1 }, outputName);
    }
  }
}
