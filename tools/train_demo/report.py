"""Outputs of a demo-model run: the loss-curve plot, results.json, and the export folder packed
into <= 15 MiB tar parts under $OUT (the device tool returns at most 8 files of 16 MiB)."""

import csv
import glob
import io
import json
import os
import tarfile

from common import log

PART_BYTES = 15 * 2**20


def plot_losses(train_csv, drafter_csv, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no loss-curve PNG")
        return False
    rows = list(csv.DictReader(open(train_csv))) if os.path.exists(train_csv) else []
    drows = list(csv.DictReader(open(drafter_csv))) if os.path.exists(drafter_csv) else []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    offset = 0.0
    for stage, color in (("pretrain", "C0"), ("qat", "C3")):
        r = [x for x in rows if x["stage"] == stage]
        if not r:
            continue
        tok = [offset + float(x["tokens"]) / 1e6 for x in r]
        ax1.plot(tok, [float(x["loss"]) for x in r], color=color, lw=1,
                 label=f"{stage} train (batch mean)")
        held = [(offset + float(x["tokens"]) / 1e6, float(x["heldout_loss"])) for x in r
                if x.get("heldout_loss")]
        if held:
            ax1.plot(*zip(*held), "o--", color=color, ms=3, label=f"{stage} held-out (networkx)")
        offset = tok[-1]
    ax1.set_xlabel("training tokens (millions)")
    ax1.set_ylabel("cross-entropy (nats / token)")
    ax1.set_ylim(top=min(6.0, ax1.get_ylim()[1]))
    ax1.set_title("target: pretraining, then MXFP4-expert QAT")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    if drows:
        steps = [int(x["step"]) for x in drows]
        ax2.plot(steps, [float(x["loss"]) for x in drows], color="C2", lw=1,
                 label="weighted CE")
        ax2.set_xlabel("drafter step")
        ax2.set_ylabel("DFlash loss")
        ax2.grid(alpha=0.3)
        tw = ax2.twinx()
        tw.plot(steps, [float(x["est_tau"]) for x in drows], color="C1", lw=1,
                label="1 + accepted run (train batch)")
        tw.set_ylabel("acceptance length on training blocks")
        h1, l1 = ax2.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc="center right")
        ax2.set_title("DFlash drafter (block 8)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_results(path, results):
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


def package(export_dir, out_dir, tag):
    """Tars export_dir into out_dir/demo_<tag>.tar.partNN, then deletes older generations, so a
    kill at any moment leaves one complete generation."""
    if not out_dir:
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(export_dir, arcname="demo_export")
    data = buf.getvalue()
    names = []
    for i in range(0, len(data), PART_BYTES):
        name = os.path.join(out_dir, f"demo_{tag}.tar.part{i // PART_BYTES:02d}")
        with open(name + ".tmp", "wb") as f:
            f.write(data[i:i + PART_BYTES])
        os.replace(name + ".tmp", name)
        names.append(name)
    for old in glob.glob(os.path.join(out_dir, "demo_*.tar.part*")):
        if old not in names:
            os.remove(old)
    log(f"packaged {len(data) / 2**20:.1f} MiB as {len(names)} part(s): demo_{tag}")


def plot_distill(distill_csv, path):
    """Drafter retraining (retrain_drafter.py): total / CE / KL loss and the training-batch
    acceptance estimate per step."""
    plt = _pyplot()
    if plt is None or not os.path.exists(distill_csv):
        return False
    rows = list(csv.DictReader(open(distill_csv)))
    if not rows:
        return False
    steps = [int(x["step"]) for x in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for key, color, label in (("loss", "C0", "total"), ("ce", "C2", "weighted CE"),
                              ("kl", "C3", "weighted KL (top-k, mean over T)")):
        ax1.plot(steps, [float(x[key]) for x in rows], color=color, lw=1, label=label)
    ax1.set_xlabel("drafter step")
    ax1.set_ylabel("loss (nats)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax1.set_title("DFlash drafter retraining on the quantized target's outputs")
    ax2.plot(steps, [float(x["est_tau"]) for x in rows], color="C1", lw=1)
    ax2.set_xlabel("drafter step")
    ax2.set_ylabel("1 + accepted run (training batch)")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_acceptance(curves, path):
    """curves: {panel title: {drafter label: block_acceptance.summarize() dict}}; one panel per
    prompt set, the share of verify steps that kept draft j against j."""
    plt = _pyplot()
    if plt is None or not curves:
        return False
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.2), squeeze=False)
    for ax, (title, by_drafter) in zip(axes[0], curves.items()):
        for i, (label, s) in enumerate(by_drafter.items()):
            rates = s["accept_rate_per_position"]
            ax.plot(range(1, len(rates) + 1), rates, "o-", color=f"C{i}",
                    label=f"{label}: tau {s['tau']:.2f} ({s['verify_steps']} steps)")
        ax.set_xlabel("block position j (draft j)")
        ax.set_ylabel("share of verify steps keeping draft j")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no PNG")
        return None
    return plt
