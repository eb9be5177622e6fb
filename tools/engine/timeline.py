#!/usr/bin/env python3
"""Reads a persistent-engine timeline (mimo-bench --engine persistent --timeline FILE.csv) and
prints where a decode step's engine time goes - per op kind: tasks, time from the op's first task
start to its last task end, and the gap before it (the wait on its producers) - and draws the
tasks as an SVG, one row per queue (block), coloured by op kind.

usage: timeline.py TIMELINE.csv [OUT.svg] [--segments N]  (N: draw only the first N segments)
Standard library only."""
import csv
import sys
from collections import defaultdict

COLORS = {"embed": "#999999", "add_norm": "#4e79a7", "qkv": "#f28e2b", "rope_store_kv": "#e15759",
          "attention": "#76b7b2", "out_proj": "#59a14f", "tap": "#edc948"}


def load(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("segment", "op", "layer", "tile", "chunk", "prologue", "queue", "sm"):
            r[k] = int(r[k])
        r["start"] = int(r["start_ns"])
        r["end"] = int(r["end_ns"])
    return rows


def summarize(rows):
    ops = defaultdict(list)
    for r in rows:
        ops[(r["segment"], r["op"], r["prologue"])].append(r)
    per_kind = defaultdict(lambda: [0, 0.0, 0.0])  # tasks, span us, gap us
    segments = defaultdict(list)
    for (seg, op, prologue), tasks in ops.items():
        segments[seg].append((min(t["start"] for t in tasks), max(t["end"] for t in tasks),
                              tasks[0]["kind"] + (" prologue" if prologue else ""), len(tasks)))
    seg_total = 0.0
    for seg, spans in segments.items():
        spans.sort()
        seg_total += (spans[-1][1] - spans[0][0]) / 1e3
        previous_end = None
        for start, end, kind, n in spans:
            k = per_kind[kind]
            k[0] += n
            k[1] += (end - start) / 1e3
            if previous_end is not None:
                k[2] += max(0, start - previous_end) / 1e3
            previous_end = end
    print(f"{len(rows)} tasks in {len(segments)} engine launches; {seg_total:.1f} us inside them")
    print(f"{'op':<22}{'tasks':>8}{'span us':>10}{'gap us':>9}   (sums over the step)")
    for kind, (n, span, gap) in sorted(per_kind.items(), key=lambda kv: -kv[1][1]):
        print(f"{kind:<22}{n:>8}{span:>10.1f}{gap:>9.1f}")


def draw(rows, path, segments):
    rows = [r for r in rows if segments is None or r["segment"] in segments]
    t0 = min(r["start"] for r in rows)
    t1 = max(r["end"] for r in rows)
    queues = max(r["queue"] for r in rows) + 1
    width, row_h, left = 1600, 4, 40
    scale = (width - left - 10) / max(1, t1 - t0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{queues * row_h + 60}" font-family="sans-serif" font-size="11">']
    for r in rows:
        x = left + (r["start"] - t0) * scale
        w = max(0.5, (r["end"] - r["start"]) * scale)
        color = COLORS.get(r["kind"], "#b07aa1")
        out.append(f'<rect x="{x:.1f}" y="{r["queue"] * row_h}" width="{w:.1f}" '
                   f'height="{row_h - 1}" fill="{color}"/>')
    y = queues * row_h + 15
    out.append(f'<text x="{left}" y="{y + 30}">{(t1 - t0) / 1e3:.1f} us; rows: queues (one '
               f'block each); time left to right</text>')
    x = left
    for kind, color in COLORS.items():
        out.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{y + 9}">{kind}</text>')
        x += 110
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    rows = load(argv[1])
    summarize(rows)
    if len(argv) > 2 and not argv[2].startswith("--"):
        limit = None
        if "--segments" in argv:
            limit = set(range(int(argv[argv.index("--segments") + 1])))
        draw(rows, argv[2], limit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
