"""Writes extensions.json: the fixture renderings @huggingface/jinja cannot do because it lacks a
filter mimo adds from Python Jinja (select / reject), rendered by Python's jinja2 the way
transformers' apply_chat_template sets it up (sandboxed, trim_blocks, lstrip_blocks,
loopcontrols, its tojson / raise_exception / strftime_now). mimo must match these instead of
failing like the reference.
usage: python3 extensions.py   (in this folder; needs jinja2)"""
import datetime
import json
import re

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

MISSING_FILTER = re.compile(r"Unknown ArrayValue filter: (select|reject)$")


def environment(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: now.strftime(fmt)
    return env


def main():
    templates = {t["name"]: t["template"] for t in json.load(open("templates.json"))["templates"]}
    expected = json.load(open("expected.json"))["rendered"]
    chats = json.load(open("conversations.json"))
    conversations = {c["name"]: c for c in chats["conversations"]}
    now = datetime.datetime.fromisoformat(chats["now"].replace("Z", "+00:00"))
    env = environment(now)
    rendered = []
    for r in expected:
        if not MISSING_FILTER.search(r.get("error", "")):
            continue
        conversation = conversations[r["conversation"]]
        context = {
            "messages": conversation["messages"],
            "tools": chats["tools"] if conversation.get("tools") else None,
            "documents": None,
            "add_generation_prompt": r["add_generation_prompt"],
            "date_string": chats["date_string"],
            **chats["special_tokens"],
        }
        if r["enable_thinking"] is not None:
            context["enable_thinking"] = r["enable_thinking"]
        entry = {k: r[k] for k in ("template", "conversation", "add_generation_prompt",
                                   "enable_thinking")}
        entry["text"] = env.from_string(templates[r["template"]]).render(**context)
        rendered.append(entry)
    out = {"renderer": f"jinja2@{jinja2.__version__} (Python, transformers' environment)",
           "rendered": rendered}
    with open("extensions.json", "w") as f:
        f.write(json.dumps(out, indent=1) + "\n")
    print(f"extensions: {len(rendered)} renderings")


if __name__ == "__main__":
    main()
