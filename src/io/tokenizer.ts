/**
 * Tokenization through @huggingface/tokenizers (tokenizers.js, the pure-JS port maintained by
 * Hugging Face), which reads a checkpoint's tokenizer.json + tokenizer_config.json as is.
 */
import { exists, files, joinPath } from './host.js';
import { Tokenizer } from '@huggingface/tokenizers';
import { LowbitError, describeFsError } from '../util/errors.js';
import { readJson } from './read-at.js';

export interface TextTokenizer {
  /** Token ids of `text`, without BOS/EOS (the perplexity protocol adds none). */
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
}

export function loadTokenizer(modelDir: string): TextTokenizer {
  const tokFile = joinPath(modelDir, 'tokenizer.json');
  if (!exists(tokFile)) throw new LowbitError('no tokenizer.json in the model directory', modelDir);
  const cfgFile = joinPath(modelDir, 'tokenizer_config.json');
  const json = readJson(tokFile) as Record<string, unknown>;
  const config = exists(cfgFile) ? (readJson(cfgFile) as Record<string, unknown>) : {};
  return tokenizerFromJson(json, config, tokFile);
}

/** A tokenizer from tokenizer.json / tokenizer_config.json objects (e.g. rebuilt from a GGUF file's metadata). */
export function tokenizerFromJson(json: object, config: object, file: string): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as never, config as never);
  } catch (e) {
    throw new LowbitError(`unsupported tokenizer (${(e as Error)?.message ?? String(e)})`.replace(/\s*\n\s*/g, ' '), file);
  }
  // A tokenizer.json that loads may still fail while tokenizing (malformed parts): one line, naming the file.
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new LowbitError(`tokenizer failed (${(e as Error)?.message ?? String(e)})`.replace(/\s*\n\s*/g, ' '), file);
    }
  };
  return {
    encode: (text) => guard(() => Int32Array.from(tok.encode(text, { add_special_tokens: false }).ids)),
    decode: (ids) => guard(() => tok.decode(Array.from(ids))),
  };
}

/** Reads a UTF-8 text file and tokenizes it. */
export function tokenizeFile(tokenizer: TextTokenizer, file: string): Int32Array {
  let text: string;
  try {
    text = files().readText(file);
  } catch (e) {
    throw new LowbitError(describeFsError(e), file);
  }
  return tokenizer.encode(text);
}
