/**
 * Makes test/fixtures/llama-quantize.{safetensors,json}: what llama.cpp's own llama-quantize
 * writes for kdoc-6m, as the oracle for lowbit's ggml block types and mix tables.
 *
 *   1. lowbit writes kdoc-6m as an F32 GGUF:  lowbit quantize assets/kdoc-6m --gguf F32 --out /tmp/kd-F32.gguf
 *   2. llama-quantize (built from the llama.cpp source that node-llama-cpp ships, see
 *      ../shared/notes/llama-cpp.md) makes /tmp/ll-<MIX>.gguf for every mix below;
 *   3. node dist/scripts/make-llama-quantize-fixture.js /tmp
 *   4. with an importance matrix: llama-imatrix -m /tmp/kd-F32.gguf -f assets/kdoc-calib.txt -c 512
 *      --chunks 128 -o /tmp/kd.imatrix.gguf, then llama-quantize --imatrix /tmp/kd.imatrix.gguf for
 *      Q2_K, Q3_K_S, Q4_K_M, Q5_K_M and Q6_K into /tmp/lli-<MIX>.gguf.
 * The fixture keeps, per mix, the ggml type of every tensor, the bytes of blk.0.attn_q.weight
 * (256 x 256) in each block type, and, with the imatrix, its importance values and the K-quant bytes
 * llama-quantize wrote with them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgufFile } from '../src/io/gguf.js';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { GGML_TYPE_NAMES } from '../src/quant/ggml/registry.js';
import { MIXES } from '../src/quant/ggml/mixes.js';
import { ROOT } from '../src/api/assets.js';

const dir = process.argv[2] ?? '/tmp';
const types: Record<string, Record<string, string>> = {};
const st = new SafetensorsWriter(path.join(ROOT, 'test/fixtures/llama-quantize.safetensors'));
const saved = new Set<string>();
for (const mix of MIXES) {
  const g = GgufFile.open(path.join(dir, `ll-${mix}.gguf`));
  types[mix] = Object.fromEntries([...g.tensors.values()].map((t) => [t.name, GGML_TYPE_NAMES[t.type]]));
  const q = g.info('blk.0.attn_q.weight'), name = GGML_TYPE_NAMES[q.type];
  if (!saved.has(name)) {
    const bytes = g.readBytes(q.name);
    st.add(name, 'U8', [bytes.length], bytes);
    saved.add(name);
  }
  g.close();
}
// With the importance matrix: imatrix weights = in_sum2 / counts (llama.cpp's imatrix loader).
const im = GgufFile.open(path.join(dir, 'kd.imatrix.gguf'));
const sums = new Float32Array(im.readBytes('blk.0.attn_q.weight.in_sum2').slice().buffer);
const count = Math.round(new Float32Array(im.readBytes('blk.0.attn_q.weight.counts').slice().buffer)[0]);
st.add('imatrix.blk.0.attn_q', 'F32', [sums.length], sums.map((v) => Math.fround(v / count)));
im.close();
for (const [mix, type] of [['Q2_K', 'Q2_K'], ['Q3_K_S', 'Q3_K'], ['Q4_K_M', 'Q4_K'], ['Q5_K_M', 'Q5_K'], ['Q6_K', 'Q6_K']]) {
  const g = GgufFile.open(path.join(dir, `lli-${mix}.gguf`));
  const bytes = g.readBytes('blk.0.attn_q.weight');
  st.add(`${type}+imatrix`, 'U8', [bytes.length], bytes);
  g.close();
}
st.finish({ source: 'llama-quantize (llama.cpp as shipped in node-llama-cpp 3.22.1) of kdoc-6m, no imatrix; blk.0.attn_q.weight per type' });
fs.writeFileSync(path.join(ROOT, 'test/fixtures/llama-quantize.json'), JSON.stringify({ tensorTypes: types }, null, 1) + '\n');
console.log(`types: ${[...saved].join(', ')}`);
