// Encode throughput of the JS reference on a ~10 MB mixed corpus built from corpus.json, and
// the corpus itself (written for bench/tokenizer_bench.cpp, so both measure the same text).
// usage: node bench.mjs corpus.json OUT_CORPUS.json [megabytes]
import fs from "node:fs";
import { caseText, loadTokenizer } from "./reference.mjs";

const [corpusPath, outPath, megabytes = "10"] = process.argv.slice(2);
const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8")).map(caseText).filter((t) => t.length);

// Shuffled rounds over the cases with a fixed linear congruential generator.
let state = 12345;
const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
const documents = [];
let bytes = 0;
while (bytes < Number(megabytes) * 1e6) {
  const order = corpus.map((_, i) => i);
  for (let i = order.length - 1; i > 0; --i) {
    const j = next() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const i of order) {
    documents.push(corpus[i]);
    bytes += Buffer.byteLength(corpus[i]);
  }
}
fs.writeFileSync(outPath, JSON.stringify(documents));

const { tokenizer } = loadTokenizer();
let tokens = 0;
for (const doc of documents.slice(0, 200)) tokenizer.encode(doc);  // warm up the JIT
const start = performance.now();
for (const doc of documents) tokens += tokenizer.encode(doc).ids.length;
const seconds = (performance.now() - start) / 1000;
console.log(`js @huggingface/tokenizers: ${documents.length} documents, ${(bytes / 1e6).toFixed(2)} MB, ` +
            `${tokens} tokens in ${seconds.toFixed(2)} s = ${(bytes / 1e6 / seconds).toFixed(2)} MB/s`);
