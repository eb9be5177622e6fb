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
    step = None
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"].split("(")[0].replace("void ", "").replace("(anonymous namespace)::", "")
        name = name.replace("<unnamed>::", "").replace("unnamed>::", "")[:48]
        if name.startswith("embed_kernel"):
            step = "tokens=" + row["Grid Size"].strip("()").split(",")[0].strip()
        if step is None:
            continue  # weight generation and the bandwidth probe
        us = microseconds(float(row["Metric Value"].replace(",", "")), row["Metric Unit"])
        times.setdefault((step, name, row["Grid Size"]), []).append(us)
    print(f"{'step':10s} {'kernel':48s} {'grid':16s} {'calls':>5s} {'median us':>10s}")
    for (step, name, grid), values in times.items():
        values.sort()
        print(f"{step:10s} {name:48s} {grid:16s} {len(values):5d} {values[len(values) // 2]:10.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
