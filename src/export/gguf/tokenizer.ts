/**
 * The tokenizer in GGUF (llama.cpp's llama-vocab.cpp, gguf-py's vocab writers), both ways.
 *
 * Byte-level BPE (GPT-2, Llama 3, Qwen2: tokenizer.json model "BPE" with a ByteLevel pre-tokenizer)
 * is stored as tokenizer.ggml.model = "gpt2": the tokens in id order, their types (1 normal,
 * 3 control, 4 user-defined), the merges as "left right" strings, and tokenizer.ggml.pre naming the
 * pre-tokenizer regex llama.cpp must use. lowbit names it from the regex in tokenizer.json (where
 * llama.cpp's converter hashes a test tokenization; same answer for the regexes listed here).
 *
 * SentencePiece-style BPE (Llama 2, Mistral: tokenizer.json "BPE" with byte_fallback and "▁" for
 * spaces) is stored as tokenizer.ggml.model = "llama": tokens, scores and types (6 for the <0xXX>
 * byte tokens). llama.cpp's SPM tokenizer merges the adjacent pair whose concatenation has the
 * highest score; Hugging Face's BPE merges the pair of lowest merge rank, so a piece's score is minus
 * the rank of the first merge that makes it (pieces no merge makes score 0). Reading such a file back,
 * the merges are rebuilt as transformers' SpmConverter builds them from a SentencePiece model: every
 * split of a piece into two pieces, ordered by the piece's score.
 */
import { exists, joinPath } from '../../io/host.js';
import { type GgufValue, gv } from '../../io/gguf.js';
import { readJson } from '../../io/read-at.js';
import { LowbitError } from '../../util/errors.js';

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** llama.cpp pre-tokenizer names by the regex they implement. */
const PRE_BY_REGEX: Record<string, string> = { [LLAMA3_REGEX]: 'llama-bpe', [QWEN2_REGEX]: 'qwen2' };
const REGEX_BY_PRE: Record<string, string> = { 'gpt-2': GPT2_REGEX, 'llama-bpe': LLAMA3_REGEX, qwen2: QWEN2_REGEX };

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean };
  pre_tokenizer?: { type?: string; use_regex?: boolean; pretokenizers?: { type?: string; pattern?: { Regex?: string }; use_regex?: boolean }[] } | null;
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

/** The pre-tokenizer name of a byte-level BPE tokenizer.json, or null when it is not one lowbit knows. */
function preTokenizerName(t: TokenizerJson): string | null {
  const pre = t.pre_tokenizer;
  if (!pre) return null;
  if (pre.type === 'ByteLevel') return pre.use_regex === false ? null : 'gpt-2';
  if (pre.type === 'Sequence' && pre.pretokenizers) {
    const split = pre.pretokenizers.find((p) => p.type === 'Split');
    const byteLevel = pre.pretokenizers.find((p) => p.type === 'ByteLevel');
    if (split?.pattern?.Regex && byteLevel) return PRE_BY_REGEX[split.pattern.Regex] ?? null;
  }
  return null;
}

/** tokenizer.ggml.* (and tokenizer.chat_template) for the model directory's tokenizer. */
export function tokenizerMetadata(modelDir: string, vocabSize: number): [string, GgufValue][] {
  const file = joinPath(modelDir, 'tokenizer.json');
  if (!exists(file)) throw new LowbitError('no tokenizer.json: GGUF files carry their tokenizer', modelDir);
  const t = readJson(file) as TokenizerJson;
  const model = t.model;
  if (model?.type !== 'BPE' || !model.vocab || !model.merges) throw new LowbitError(`GGUF export supports byte-level BPE tokenizers; this one is ${model?.type ?? 'unknown'}`, file);
  const { tokens, types } = tokenTable(t, vocabSize);
  if (model.byte_fallback) return [...spmMetadata(t, tokens, types, file), ...specialTokenMetadata(modelDir, tokens)];
  const pre = preTokenizerName(t);
  if (!pre) throw new LowbitError('GGUF export: the pre-tokenizer is not one llama.cpp names (byte-level BPE with the GPT-2, Llama-3 or Qwen2 regex)', file);
  const merges = model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));

  return [
    ['tokenizer.ggml.model', gv.str('gpt2')],
    ['tokenizer.ggml.pre', gv.str(pre)],
    ['tokenizer.ggml.tokens', gv.strs(tokens)],
    ['tokenizer.ggml.token_type', gv.i32s(types)],
    ['tokenizer.ggml.merges', gv.strs(merges)],
    ...specialTokenMetadata(modelDir, tokens),
  ];
}

/**
 * The vocabulary's pieces in id order with their GGUF token types: 1 normal, 3 control (special added
 * tokens), 4 user-defined (other added tokens), 5 unused (ids the embedding has but the tokenizer
 * does not use: placeholders).
 */
function tokenTable(t: TokenizerJson, vocabSize: number): { tokens: string[]; types: number[] } {
  const tokens: string[] = Array.from({ length: vocabSize }, (_, id) => `[PAD${id}]`);
  const types: number[] = new Array(vocabSize).fill(5);
  for (const [tok, id] of Object.entries(t.model!.vocab!)) if (id < vocabSize) { tokens[id] = tok; types[id] = 1; }
  for (const a of t.added_tokens ?? []) if (a.id < vocabSize) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  return { tokens, types };
}

/** tokenizer.ggml.* for a SentencePiece-style byte-fallback BPE (see the file comment). */
function spmMetadata(t: TokenizerJson, tokens: string[], baseTypes: number[], file: string): [string, GgufValue][] {
  const rankOf = new Map<string, number>();
  t.model!.merges!.forEach((m, rank) => {
    const [a, b] = Array.isArray(m) ? m : m.split(' ');
    if (!rankOf.has(a + b)) rankOf.set(a + b, rank);
  });
  // SentencePiece adds two types: 2 for the unknown token and 6 for the <0xXX> byte tokens.
  const unk = (t.model as { unk_token?: string | null }).unk_token;
  const types = baseTypes.map((type, id) => (type !== 5 && tokens[id] === unk ? 2 : type === 1 && /^<0x[0-9A-F]{2}>$/.test(tokens[id]) ? 6 : type));
  const scores = tokens.map((tok, id) => (types[id] === 1 && rankOf.has(tok) ? -rankOf.get(tok)! : 0));
  const norm = JSON.stringify((t as { normalizer?: unknown }).normalizer ?? null) + JSON.stringify(t.pre_tokenizer ?? null);
  // "▁" prepended to the text: a Prepend normalizer (Llama 2) or a Metaspace pre-tokenizer that prepends.
  const addSpacePrefix = /"Prepend","prepend":"▁"/.test(norm) || (/"Metaspace"/.test(norm) && !/"prepend_scheme":"never"/.test(norm));
  if (!/"▁"/.test(norm)) throw new LowbitError('GGUF export: a byte-fallback BPE vocabulary without "▁" for spaces is not a SentencePiece-style one llama.cpp can run', file);
  return [
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.pre', gv.str('default')],
    ['tokenizer.ggml.tokens', gv.strs(tokens)],
    ['tokenizer.ggml.scores', gv.f32s(scores)],
    ['tokenizer.ggml.token_type', gv.i32s(types)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(addSpacePrefix)],
  ];
}

/** Special token ids (tokenizer_config.json names them), add_bos_token and the chat template. */
function specialTokenMetadata(modelDir: string, tokens: string[]): [string, GgufValue][] {
  const kv: [string, GgufValue][] = [];
  const cfgFile = joinPath(modelDir, 'tokenizer_config.json');
  const tcfg = exists(cfgFile) ? (readJson(cfgFile) as Record<string, unknown>) : {};
  const idOf = (v: unknown): number | undefined => {
    const content = typeof v === 'string' ? v : (v as { content?: string } | null)?.content;
    if (content === undefined) return undefined;
    const id = tokens.indexOf(content);
    return id >= 0 ? id : undefined;
  };
  for (const [key, name] of [['bos', 'bos_token'], ['eos', 'eos_token'], ['unknown', 'unk_token'], ['padding', 'pad_token']] as const) {
    const id = idOf(tcfg[name]);
    if (id !== undefined) kv.push([`tokenizer.ggml.${key}_token_id`, gv.u32(id)]);
  }
  // Hugging Face adds BOS only when the post-processor says so; byte-level BPE models mostly do not.
  kv.push(['tokenizer.ggml.add_bos_token', gv.bool(tcfg.add_bos_token === true)]);
  if (typeof tcfg.chat_template === 'string') kv.push(['tokenizer.chat_template', gv.str(tcfg.chat_template)]);
  return kv;
}

/** transformers' SpmConverter merges: every split of a piece into two pieces, by the piece's score. */
function spmMerges(tokens: string[], scores: number[], types: number[]): string[] {
  const id = new Map<string, number>();
  tokens.forEach((t, i) => { if (types[i] === 1 && !id.has(t)) id.set(t, i); });
  const merges: [number, number, string][] = [];
  for (const [piece, i] of id) {
    const chars = [...piece];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join(''), b = chars.slice(k).join('');
      if (id.has(a) && id.has(b)) merges.push([-scores[i], i, `${a} ${b}`]);
    }
  }
  merges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  return merges.map((m) => m[2]);
}

/** A tokenizer.json (and tokenizer_config.json) object rebuilt from GGUF metadata, for @huggingface/tokenizers. */
export function tokenizerJsonFromMetadata(get: (key: string) => unknown, file: string): { tokenizer: object; config: object } {
  const model = get('tokenizer.ggml.model');
  if (model === 'llama') return spmTokenizerJson(get, file);
  if (model !== 'gpt2') throw new LowbitError(`tokenizer model ${String(model)} is not supported (lowbit reads byte-level BPE, "gpt2")`, file);
  const pre = String(get('tokenizer.ggml.pre') ?? 'gpt-2');
  const regex = REGEX_BY_PRE[pre] ?? (pre === 'default' ? GPT2_REGEX : undefined);
  if (!regex) throw new LowbitError(`pre-tokenizer ${pre} is not supported (lowbit knows ${Object.keys(REGEX_BY_PRE).join(', ')})`, file);
  const tokens = get('tokenizer.ggml.tokens') as string[] | undefined;
  const merges = (get('tokenizer.ggml.merges') as string[] | undefined) ?? [];
  const types = (get('tokenizer.ggml.token_type') as number[] | undefined) ?? [];
  if (!Array.isArray(tokens)) throw new LowbitError('missing tokenizer.ggml.tokens', file);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => { if (!(t in vocab)) vocab[t] = id; });
  const added = tokens.flatMap((content, id) => (types[id] === 3 || types[id] === 4 ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[id] === 3 }] : []));
  const preTokenizer = pre === 'gpt-2' || pre === 'default'
    ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
    : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] };
  return {
    tokenizer: {
      version: '1.0', truncation: null, padding: null, normalizer: null, added_tokens: added,
      pre_tokenizer: preTokenizer,
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre === 'llama-bpe', vocab, merges },
    },
    config: {},
  };
}

/** A byte-fallback BPE tokenizer.json for a GGUF "llama" (SentencePiece-style) vocabulary. */
function spmTokenizerJson(get: (key: string) => unknown, file: string): { tokenizer: object; config: object } {
  const tokens = get('tokenizer.ggml.tokens'), scores = get('tokenizer.ggml.scores'), types = get('tokenizer.ggml.token_type');
  if (!Array.isArray(tokens) || !Array.isArray(scores) || !Array.isArray(types) || scores.length !== tokens.length || types.length !== tokens.length)
    throw new LowbitError('SentencePiece-style vocabulary needs tokenizer.ggml.tokens, scores and token_type of one length', file);
  const vocab: Record<string, number> = {};
  (tokens as string[]).forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
  const unkId = get('tokenizer.ggml.unknown_token_id');
  const added = (tokens as string[]).flatMap((content, id) => (types[id] === 3 || types[id] === 4 || types[id] === 2 ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[id] !== 4 }] : []));
  const prefix = get('tokenizer.ggml.add_space_prefix') !== false;
  return {
    tokenizer: {
      version: '1.0', truncation: null, padding: null, added_tokens: added,
      normalizer: { type: 'Sequence', normalizers: [...(prefix ? [{ type: 'Prepend', prepend: '▁' }] : []), { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
      pre_tokenizer: null, post_processor: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : [])] },
      model: {
        type: 'BPE', dropout: null, unk_token: typeof unkId === 'number' ? (tokens as string[])[unkId] : null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: spmMerges(tokens as string[], scores as number[], types as number[]),
      },
    },
    config: {},
  };
}
