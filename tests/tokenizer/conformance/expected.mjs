// Writes the reference results: token ids and decodes for every corpus case, and chat
// templates rendered by @huggingface/jinja.
// usage: node expected.mjs corpus.json chats.json OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { caseText, loadTokenizer, modelDir } from "./reference.mjs";

const [corpusPath, chatsPath, outDir] = process.argv.slice(2);
const { tokenizer, config } = loadTokenizer();
const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));

// The JS decode refuses an empty id list; the decode of nothing is "".
const decode = (ids, options) => (ids.length ? tokenizer.decode(ids, options) : "");

const cases = corpus.map((entry) => {
  const ids = tokenizer.encode(caseText(entry)).ids;
  const result = {
    name: entry.name,
    ids,
    decoded: decode(ids),
    decoded_skip_special: decode(ids, { skip_special_tokens: true }),
  };
  if (entry.prefixes) result.prefix_decodes = ids.map((_, k) => decode(ids.slice(0, k + 1)));
  return result;
});

const chats = JSON.parse(fs.readFileSync(chatsPath, "utf8"));
const templates = { qwen3: config.chat_template, ...chats.templates };
const rendered = [];
for (const [templateName, source] of Object.entries(templates)) {
  const template = new Template(source);
  for (const conversation of chats.conversations) {
    for (const addGenerationPrompt of [true, false]) {
      for (const enableThinking of [undefined, true, false]) {
        const context = { messages: conversation.messages, add_generation_prompt: addGenerationPrompt };
        if (enableThinking !== undefined) context.enable_thinking = enableThinking;
        rendered.push({
          template: templateName,
          conversation: conversation.name,
          add_generation_prompt: addGenerationPrompt,
          enable_thinking: enableThinking ?? null,
          text: template.render(context),
        });
      }
    }
  }
}

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "expected_tokens.json"), JSON.stringify({ model_dir: modelDir, cases }));
fs.writeFileSync(path.join(outDir, "expected_chat.json"), JSON.stringify({ templates, rendered }));
console.log(`reference: ${cases.length} corpus cases, ${rendered.length} chat renderings, model ${modelDir}`);
