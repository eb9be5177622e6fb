// Writes the chat template conformance fixture: the chat templates of real model families, as
// shipped in @huggingface/ollama-utils (its automap holds each model's Hugging Face / GGUF
// chat_template), rendered by @huggingface/jinja over conversations.json.
// usage: node render.mjs OUT_DIR   (writes OUT_DIR/templates.json and OUT_DIR/expected.json)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);
const outDir = process.argv[2];
if (!outDir) throw new Error("usage: node render.mjs OUT_DIR");

// The automap is TypeScript source shipped in the package; its array literal is plain JS.
const utilsDir = path.dirname(path.dirname(require.resolve("@huggingface/ollama-utils")));
const utilsVersion = JSON.parse(fs.readFileSync(path.join(utilsDir, "package.json"), "utf8")).version;
const jinjaVersion = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve("@huggingface/jinja")), "..", "package.json"), "utf8"),
).version;
const automapPath = "src/chat-template-automap.ts";
const automapSource = fs.readFileSync(path.join(utilsDir, automapPath), "utf8");
const literal = automapSource.slice(automapSource.indexOf("= [") + 2).trim().replace(/;$/, "");
const automap = new Function(`return ${literal};`)();

const chats = JSON.parse(fs.readFileSync(path.join(here, "conversations.json"), "utf8"));

// strftime_now() reads the clock: both sides render at the fixture's fixed instant (noon UTC,
// the same date in every time zone from UTC-11 to UTC+11).
const fixedNow = Date.parse(chats.now);
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    super(...(args.length ? args : [fixedNow]));
  }
  static now() {
    return fixedNow;
  }
};

const families = JSON.parse(fs.readFileSync(path.join(here, "families.json"), "utf8"));

const templates = [];
for (const family of families) {
  const entries = automap.filter((e) => e.model === family.model);
  if (entries.length === 0) throw new Error(`no template for ${family.model}`);
  templates.push({
    name: family.name,
    family: family.family,
    source: `npm @huggingface/ollama-utils@${utilsVersion} ${automapPath}, model ${family.model}`,
    template: entries[0].gguf,
  });
}

const rendered = [];
for (const t of templates) {
  const template = new Template(t.template);
  for (const conversation of chats.conversations) {
    for (const addGenerationPrompt of [true, false]) {
      for (const enableThinking of [null, false]) {
        const context = {
          messages: conversation.messages,
          tools: conversation.tools ? chats.tools : null,
          documents: null,
          add_generation_prompt: addGenerationPrompt,
          date_string: chats.date_string,
          ...chats.special_tokens,
        };
        if (enableThinking !== null) context.enable_thinking = enableThinking;
        const entry = {
          template: t.name,
          conversation: conversation.name,
          add_generation_prompt: addGenerationPrompt,
          enable_thinking: enableThinking,
        };
        try {
          entry.text = template.render(structuredClone(context));
        } catch (e) {
          entry.error = String(e.message ?? e);
        }
        rendered.push(entry);
      }
    }
  }
}

fs.mkdirSync(outDir, { recursive: true });
const meta = { renderer: `@huggingface/jinja@${jinjaVersion}`, templates_from: `@huggingface/ollama-utils@${utilsVersion}` };
fs.writeFileSync(path.join(outDir, "templates.json"), JSON.stringify({ ...meta, templates }, null, 1) + "\n");
fs.writeFileSync(path.join(outDir, "expected.json"), JSON.stringify({ ...meta, rendered }, null, 1) + "\n");
const errors = rendered.filter((r) => r.error).length;
console.log(`chat templates: ${templates.length} templates, ${rendered.length} renderings (${errors} errors)`);
