"""Language-model training of the demo target: random 512-token windows of the training stream,
bf16 autocast over fp32 master weights, AdamW, warmup + cosine learning rate over a step and/or
wall-clock budget, router balancing, periodic held-out loss, resumable checkpoints. The QAT phase
is the same loop with MXFP4 fake-quantised experts."""

import math
import os
import time

import torch

from arch import RouterBalancer, set_qat
from common import log, step_generator


class Windows:
    """Random windows of a token stream held on the GPU."""

    def __init__(self, stream, seq_len, device):
        self.data = torch.from_numpy(stream.astype("int32")).to(device)
        self.seq_len = seq_len

    def batch(self, gen, batch_size):
        starts = torch.randint(0, len(self.data) - self.seq_len - 1, (batch_size,), generator=gen)
        idx = starts.to(self.data.device)[:, None] + torch.arange(self.seq_len,
                                                                  device=self.data.device)
        return self.data[idx].long()

    def fixed(self, count):
        """The first `count` non-overlapping windows (held-out evaluation)."""
        n = min(count, (len(self.data) - 1) // self.seq_len)
        return self.data[:n * self.seq_len].view(n, self.seq_len).long()


def param_groups(model, weight_decay):
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def lr_at(progress, step, lr_max, lr_min, warmup):
    cos = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * min(1.0, progress)))
    return cos * min(1.0, (step + 1) / max(1, warmup))


def scheduled_lr(opt, elapsed, step, hp):
    """The learning rate of this step of a budget of hp["time_s"] seconds and/or hp["steps"]
    steps (progress = whichever is further), set on every parameter group; None once the
    budget is spent."""
    progress = max(elapsed / hp["time_s"], step / hp["steps"] if hp["steps"] else 0.0)
    if progress >= 1.0:
        return None
    lr = lr_at(progress, step, hp["lr"], hp["lr_min"], hp["warmup"])
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


@torch.no_grad()
def heldout_loss(model, windows, batch=8):
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(windows), batch):
        x = windows[i:i + batch]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x, use_cache=False).loss
        total += loss.item() * len(x)
        n += len(x)
    model.train()
    return total / max(1, n)


def train_lm(model, train, heldout_windows, hp, stage, stage_id, seed, csv, ckpt_path):
    """Trains until hp['steps'] or hp['time_s'] is reached (whichever comes first); the LR
    schedule follows the larger of the two progress fractions. Returns a summary dict."""
    model.train()
    set_qat(model, hp.get("qat", False))
    opt = torch.optim.AdamW(param_groups(model, hp["weight_decay"]), lr=hp["lr"],
                            betas=(0.9, 0.95), eps=1e-8, fused=True)
    balancer = RouterBalancer(model, hp["bias_rate"])
    step, elapsed = 0, 0.0
    if ckpt_path and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cuda", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        log(f"{stage}: resumed at step {step} ({elapsed:.0f}s done)")
    bs, seq = hp["batch"], train.seq_len
    acc_loss = torch.zeros((), device="cuda")
    acc_n = 0
    t_last = time.time()
    while True:
        lr = scheduled_lr(opt, elapsed, step, hp)
        if lr is None:
            break
        x = train.batch(step_generator(seed, stage_id, step), bs)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x, use_cache=False).loss
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), hp["clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        balancer.step()
        acc_loss += loss.detach()
        acc_n += 1
        step += 1
        now = time.time()
        elapsed += now - t_last
        t_last = now
        last = (max(elapsed / hp["time_s"], step / hp["steps"] if hp["steps"] else 0.0) >= 1.0)
        if step % hp["log_every"] == 0 or last or step == 1:
            row = {"stage": stage, "step": step, "tokens": step * bs * seq,
                   "loss": round(acc_loss.item() / acc_n, 5), "lr": f"{lr:.3e}",
                   "grad_norm": round(gnorm.item(), 4),
                   "max_expert_load": round(balancer.last_imbalance.item(), 3),
                   "elapsed_s": round(elapsed, 2)}
            acc_loss.zero_()
            acc_n = 0
            if step % hp["eval_every"] == 0 or last or step == 1:
                row["heldout_loss"] = round(heldout_loss(model, heldout_windows), 5)
                t_last = time.time()
            csv.write(**row)
            if step % (hp["log_every"] * 5) == 0 or last or step == 1:
                log(f"{stage} step {step}: {row}")
        if ckpt_path and (step % hp["ckpt_every"] == 0 or last):
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": elapsed}, ckpt_path)
            t_last = time.time()
    balancer.remove()
    set_qat(model, False)
    model.eval()
    return {"steps": step, "seconds": round(elapsed, 1), "tokens": step * bs * seq,
            "ms_per_step": round(1000 * elapsed / max(1, step), 1)}


def benchmark_experts(model, x):
    """Self-check of the bf16 grouped experts against transformers' own (eager) experts on the
    same weights: max |logit difference| relative to the logit scale."""
    from arch import EXPERTS_IMPL, use_experts_impl
    model.eval()
    with torch.no_grad():
        use_experts_impl(model, "eager")
        ref = model(input_ids=x, use_cache=False).logits.float()
        use_experts_impl(model, EXPERTS_IMPL)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got = model(input_ids=x, use_cache=False).logits.float()
    model.train()
    return float((got - ref).abs().max() / ref.abs().max())
