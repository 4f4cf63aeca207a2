/**
 * Exports real layer problems (W, H) of kdoc-6m for the PyTorch oracles of the layer-wise methods
 * (scripts/oracle/gptq_oracle.py, quantease_oracle.py):
 *   node dist/scripts/make-layer-fixture.js test/fixtures/layer-problems.safetensors
 * H = X^T X of each layer's input over 32 calibration windows of 512 tokens from kdoc-calib.txt
 * (seed 0), blocks run unquantized. Stored in f32: the oracle and the tests read the same values.
 */
import { embedTokens, loadBlock, blockForward, type LinearName } from '../src/arch/llama.js';
import { blockTensorName, readFinite } from '../src/arch/layers.js';
import { createBackend } from '../src/backend/index.js';
import { sampleWindows } from '../src/calib/sample.js';
import { openModelDir } from '../src/export/reader.js';
import { loadModel } from '../src/arch/llama.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { collectHessians } from '../src/pipeline/calibrated.js';
import { ASSETS } from '../src/api/assets.js';

export const LAYER_PROBLEMS: [number, LinearName][] = [[0, 'self_attn.q_proj'], [1, 'mlp.down_proj'], [1, 'mlp.up_proj']];

const out = process.argv[2] ?? 'test/fixtures/layer-problems.safetensors';
const be = await createBackend();
const dir = openModelDir(ASSETS.model);
const model = loadModel(dir.config, dir.source, be);
const ids = sampleWindows(tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.calib), { samples: 32, seqLen: 512, seed: 0 });
const shapes = Array.from({ length: 4 }, () => ({ batch: 8, seqLen: 512 }));
let xs = shapes.map((_, i) => embedTokens(be, model, ids.subarray(i * 8 * 512, (i + 1) * 8 * 512)));
const w = new SafetensorsWriter(out);
for (let layer = 0; layer <= Math.max(...LAYER_PROBLEMS.map((p) => p[0])); layer++) {
  const block = loadBlock(dir.config, dir.source, be, layer);
  const h = await collectHessians(be, dir.config, block, xs, shapes);
  for (const [l, name] of LAYER_PROBLEMS) {
    if (l !== layer) continue;
    const tensor = blockTensorName(layer, `${name}.weight`);
    const [rows, cols] = dir.source.shape(tensor);
    const key = `l${layer}.${name.split('.')[1]}`;
    w.add(`${key}.W`, 'F32', [rows, cols], readFinite(dir.source, tensor));
    w.add(`${key}.H`, 'F32', [cols, cols], Float32Array.from(h[name].sum));
  }
  xs = xs.map((x, i) => blockForward(be, dir.config, block, x, shapes[i]));
}
w.finish({ producer: 'scripts/make-layer-fixture.ts', calibration: '32 x 512 tokens of kdoc-calib.txt, seed 0' });
console.log(`wrote ${out}`);
