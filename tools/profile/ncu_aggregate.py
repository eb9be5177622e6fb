"""Median GPU time per kernel and grid from `ncu --csv --metrics gpu__time_duration.sum`.

Kernels are grouped by the step they belong to: each step starts with the embedding gather,
whose grid is the step's token count (tokens=1: decode, tokens=8: verify, tokens=16: prefill
chunks)."""
import collections
import csv
import sys


def microseconds(value, unit):
    scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}
    if unit not in scale:
        sys.exit(f"ncu_aggregate: unknown time unit {unit!r}")
    return value * scale[unit]


def main(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith('"')]
    times = collections.OrderedDict()
    steps = collections.Counter()  # steps of each kind
    step = None
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"].split("(")[0].replace("void ", "").replace("(anonymous namespace)::", "")
        name = name.replace("<unnamed>::", "").replace("unnamed>::", "")[:48]
        if name.startswith("embed_kernel"):
            step = "tokens=" + row["Grid Size"].strip("()").split(",")[0].strip()
            steps[step] += 1
        if step is None:
            continue  # weight generation and the bandwidth probe
        us = microseconds(float(row["Metric Value"].replace(",", "")), row["Metric Unit"])
        times.setdefault((step, name, row["Grid Size"]), []).append(us)
    print(f"{'step':10s} {'kernel':48s} {'grid':16s} {'calls':>5s} {'median us':>10s}")
    for (step, name, grid), values in times.items():
        values.sort()
        print(f"{step:10s} {name:48s} {grid:16s} {len(values):5d} {values[len(values) // 2]:10.2f}")
    # Per step: each kernel's total time (all its calls and grids) divided by the number of steps
    # of that kind, largest first.
    totals = collections.defaultdict(float)
    for (step, name, _), values in times.items():
        totals[(step, name)] += sum(values) / steps[step]
    for kind in steps:
        rows = sorted(((us, name) for (step, name), us in totals.items() if step == kind), reverse=True)
        print(f"\n{kind}: {steps[kind]} steps, {sum(us for us, _ in rows) / 1e3:.3f} ms of kernel time a step")
        for us, name in rows:
            print(f"  {name:48s} {us / 1e3:8.3f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
