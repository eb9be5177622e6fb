// Differential test input: random templates built from a small grammar of the constructs chat
// templates use (literals, variables, operators, filters, methods, tests, ternaries, for / if /
// set / macro, whitespace control), rendered by @huggingface/jinja. mimo_jinja_differential then
// renders the same templates and must agree: same text, or an error where the reference threw.
// Left out on purpose: `**` (V8's pow differs from libm's in the last digit) and characters
// outside the BMP (indexing them yields lone UTF-16 surrogates, which UTF-8 cannot hold).
// usage: node differential.mjs SEED COUNT OUT.json
import fs from "node:fs";
import { Template } from "@huggingface/jinja";
let seed = Number(process.argv[2] ?? 1) >>> 0;
const rnd = () => { seed = (seed + 0x6d2b79f5) >>> 0; let t = seed; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const lits = ["0", "1", "-2", "3.5", "2.0", "'a'", "'Hello World'", "' pad '", "''", "'a,b,,c'", "none", "true", "false", "[1, 2, 3]", "['b', 'a']", "[]", "{'k': 1, 'j': 'x'}", "{}", "(1, 'x')", "'ü€é'"];
const vars = ["n", "s", "xs", "d", "m", "msgs", "undefined_var", "f", "e"];
const filters = ["length", "upper", "lower", "trim", "tojson", "tojson(indent=2)", "join(', ')", "join", "first", "last", "list", "string", "int", "float", "abs", "default('dd')", "default('dd', true)", "items", "unique", "reverse", "sort", "title", "capitalize", "replace('a', 'Z')", "indent(2)", "map(attribute='role')", "selectattr('role', 'equalto', 'user')", "rejectattr('content')", "dictsort", "safe", "tojson(sort_keys=true)", "tojson(separators=(',', ':'))", "count"];
const methods = [".strip()", ".lstrip()", ".split(',')", ".split()", ".startswith('a')", ".endswith(('d', 'x'))", ".upper()", ".title()", ".replace('l', 'L', 1)", ".get('k')", ".get('zz', 5)", ".items()", ".keys()", ".values()", "[0]", "[-1]", "[1:]", "[::-1]", "[:2]", ".role", "['content']", ".length"];
const ops = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "in", "not in", "and", "or"];
const tests = ["defined", "none", "string", "number", "mapping", "iterable", "boolean", "true", "false", "integer", "sequence", "odd", "even", "lower", "undefined"];
function expr(d) {
  const r = rnd();
  if (d <= 0 || r < 0.25) return rnd() < 0.5 ? pick(lits) : pick(vars);
  if (r < 0.45) return `${expr(d - 1)} ${pick(ops)} ${expr(d - 1)}`;
  if (r < 0.6) return `${expr(d - 1)} | ${pick(filters)}`;
  if (r < 0.72) return `(${expr(d - 1)})${pick(methods)}`;
  if (r < 0.8) return `${expr(d - 1)} is ${rnd() < 0.3 ? "not " : ""}${pick(tests)}`;
  if (r < 0.87) return `${expr(d - 1)} if ${expr(d - 1)} else ${expr(d - 1)}`;
  if (r < 0.92) return `not ${expr(d - 1)}`;
  if (r < 0.96) return `[${expr(d - 1)}, ${expr(d - 1)}]`;
  return `{'a': ${expr(d - 1)}}`;
}
function stmt(d) {
  const r = rnd();
  if (d <= 0 || r < 0.4) return `{{ ${expr(2)} }}`;
  if (r < 0.55) return `{% for x in ${pick(["xs", "msgs", "d", "[1, 2]", "range(3)", expr(1)])} %}${stmt(d - 1)}{{ loop.index }}{{ x }}{% endfor %}`;
  if (r < 0.7) return `{% if ${expr(2)} %}${stmt(d - 1)}{% else %}${stmt(d - 1)}{% endif %}`;
  if (r < 0.8) return `{% set v = ${expr(2)} %}{{ v }}`;
  if (r < 0.9) return `\n  {%- if ${expr(1)} -%}\n ${stmt(d - 1)} \n{% endif %}\n`;
  return `{% macro mm(a, b='q') %}[{{ a }}{{ b }}]{% endmacro %}{{ mm(${expr(1)}) }}`;
}
const context = { n: 7, s: "Hello world", xs: [3, 1, 2], d: { k: 1, j: "x" }, m: { role: "user", content: "hi" }, msgs: [{ role: "user", content: "hi" }, { role: "assistant", content: "" }], f: 2.5, e: "" };
const cases = [];
for (let i = 0; i < Number(process.argv[3] ?? 3000); ++i) {
  const src = stmt(2) + stmt(2);
  const c = { src };
  try { c.text = new Template(src).render(structuredClone(context)); } catch (e) { c.error = String(e.message ?? e); }
  cases.push(c);
}
fs.writeFileSync(process.argv[4], JSON.stringify({ context, cases }));
const errors = cases.filter((c) => c.error).length;
console.log(`differential: ${cases.length} random templates (${errors} rejected by the reference)`);
