/**
 * Makes test/fixtures/llama-quantize.{safetensors,json}: what llama.cpp's own llama-quantize
 * writes for kdoc-6m, as the oracle for lowbit's ggml block types and mix tables.
 *
 *   1. lowbit writes kdoc-6m as an F32 GGUF:  lowbit quantize assets/kdoc-6m --gguf F32 --out /tmp/kd-F32.gguf
 *   2. llama-quantize (built from the llama.cpp source that node-llama-cpp ships, see
 *      ../shared/notes/llama-cpp.md) makes /tmp/ll-<MIX>.gguf for every mix below;
 *   3. node dist/scripts/make-llama-quantize-fixture.js /tmp
 * The fixture keeps, per mix, the ggml type of every tensor, and the bytes of blk.0.attn_q.weight
 * (256 x 256) in each block type.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgufFile } from '../src/io/gguf.js';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { GGML_TYPE_NAMES } from '../src/quant/ggml/registry.js';
import { MIXES } from '../src/quant/ggml/mixes.js';
import { ROOT } from '../src/util/assets.js';

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
st.finish({ source: 'llama-quantize (llama.cpp as shipped in node-llama-cpp 3.22.1) of kdoc-6m, no imatrix; blk.0.attn_q.weight per type' });
fs.writeFileSync(path.join(ROOT, 'test/fixtures/llama-quantize.json'), JSON.stringify({ tensorTypes: types }, null, 1) + '\n');
console.log(`types: ${[...saved].join(', ')}`);
