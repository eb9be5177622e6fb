"""Shared helpers of the demo-model trainer: timestamped logging, seeding, CSV logs, stage
bookkeeping (a finished stage leaves DONE.json and is skipped on a rerun) and a run deadline."""

import csv
import json
import os
import random
import time

import numpy as np
import torch

T0 = time.time()


def log(*args):
    print(f"[{time.time() - T0:7.1f}s]", *args, flush=True)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def step_generator(seed, stage, step):
    """A CPU generator whose state depends only on (seed, stage, step): batches are reproducible
    and a resumed run draws exactly the batches the interrupted one would have."""
    return torch.Generator().manual_seed((seed * 1_000_003 + stage * 7919 + step) % (2**63))


class CsvLog:
    def __init__(self, path, fields):
        self.fields = fields
        new = not os.path.exists(path)
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields)
        if new:
            self.w.writeheader()

    def write(self, **row):
        self.w.writerow({k: row.get(k, "") for k in self.fields})
        self.f.flush()


def stage_dir(work, name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    return d


def stage_done(work, name):
    return os.path.exists(os.path.join(work, name, "DONE.json"))


def mark_done(work, name, info):
    with open(os.path.join(stage_dir(work, name), "DONE.json"), "w") as f:
        json.dump(info, f, indent=1)


def read_done(work, name):
    with open(os.path.join(work, name, "DONE.json")) as f:
        return json.load(f)


class Deadline:
    """Wall-clock budget of the whole run: stages shrink their own budgets to what is left so a
    hard command timeout still finds every earlier stage exported."""

    def __init__(self, total_s):
        self.end = T0 + total_s

    def left(self):
        return self.end - time.time()

    def cap(self, want_s, reserve_s):
        return max(1.0, min(want_s, self.left() - reserve_s))
