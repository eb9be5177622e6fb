"""Trains, evaluates and exports the demo MiMo-V2 model and its DFlash drafter on the GPU machine.

Stages (each resumable: a finished stage leaves <work>/<stage>/DONE.json and is skipped):
  data      site-packages Python -> byte-level BPE tokenizer -> token streams
  pretrain  MiMoV2FlashForCausalLM language-model training
  qat       MXFP4 fake-quantised experts; then the experts are snapped to the MXFP4 grid and the
            target is exported as BF16 (export/bf16)
  drafter   target generations -> DFlash drafter training (export/drafter)
  eval      held-out perplexity BF16 / PTQ mixed / QAT mixed, top-1 agreement, acceptance
After each stage the export folder is packed under --out. See tools/train_demo/README.md."""

import argparse
import json
import os
import platform
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arch  # noqa: E402
import corpus  # noqa: E402
import evaluate  # noqa: E402
import quant_sim  # noqa: E402
import report  # noqa: E402
import train_drafter  # noqa: E402
import train_target  # noqa: E402
from common import (CsvLog, Deadline, log, mark_done, read_done, seed_all,  # noqa: E402
                    stage_dir, stage_done)

SEQ_LEN = 512
MAX_POSITIONS = 1024  # config max_position_embeddings; trained on 512-token windows
VOCAB = 8192
REAL = {
    "data": {"train_mb": 240, "package_mb": 20, "heldout_mb": 8, "tok_sample_mb": 40},
    "pretrain": {"batch": 64, "lr": 3e-3, "lr_min": 3e-4, "warmup": 150, "weight_decay": 0.1,
                 "clip": 1.0, "bias_rate": 1e-3, "time_s": 270, "steps": 0, "log_every": 20,
                 "eval_every": 200, "ckpt_every": 500},
    "qat": {"batch": 64, "lr": 3e-4, "lr_min": 3e-5, "warmup": 20, "weight_decay": 0.1,
            "clip": 1.0, "bias_rate": 1e-3, "time_s": 50, "steps": 0, "log_every": 10,
            "eval_every": 100, "ckpt_every": 500, "qat": True},
    "drafter_data": {"prompts": 4096, "prompt_len": 64, "new_tokens": 192, "batch": 1024,
                     "greedy_frac": 0.25, "temperature": 0.8, "time_s": 45},
    "drafter": {"batch": 32, "anchors": 32, "gamma": 4.0, "lr": 1.5e-3, "lr_min": 1.5e-4,
                "warmup": 50, "weight_decay": 0.01, "time_s": 90, "steps": 0, "log_every": 25},
    "eval": {"windows": 128, "prompts": 10, "prompt_len": 128, "new_tokens": 128,
             "equality_prompts": 3, "mixed_prompts": 5, "temperature": 0.7, "time_s": 50},
}
SMOKE = {
    "data": {"train_mb": 6, "package_mb": 0.5, "heldout_mb": 2, "tok_sample_mb": 3},
    "pretrain": dict(REAL["pretrain"], time_s=60, steps=20, log_every=5, eval_every=10,
                     ckpt_every=10),
    "qat": dict(REAL["qat"], time_s=30, steps=5, log_every=5, eval_every=5),
    "drafter_data": {"prompts": 64, "prompt_len": 32, "new_tokens": 64, "batch": 32,
                     "greedy_frac": 0.5, "temperature": 0.8, "time_s": 30},
    "drafter": dict(REAL["drafter"], anchors=16, time_s=30, steps=15, log_every=5),
    "eval": {"windows": 8, "prompts": 2, "prompt_len": 64, "new_tokens": 32,
             "equality_prompts": 1, "mixed_prompts": 1, "temperature": 0.7, "time_s": 30},
}


def stage_data(a, hp, export):
    d = stage_dir(a.work, "data")
    if stage_done(a.work, "data"):
        return read_done(a.work, "data")
    t0 = time.time()
    docs, manifest = corpus.collect(hp["train_mb"], hp["package_mb"], hp["heldout_mb"])
    tok = corpus.train_tokenizer(docs["train"], VOCAB, hp["tok_sample_mb"])
    corpus.save_tokenizer(tok, os.path.join(export, "bf16"), MAX_POSITIONS)
    ids = {t: tok.token_to_id(t) for t in corpus.SPECIAL_TOKENS}
    for split in ("train", "heldout"):
        s = corpus.encode_stream(tok, docs[split], ids["<|endoftext|>"])
        np.save(os.path.join(d, f"{split}.npy"), s)
        manifest[f"{split}_tokens"] = int(len(s))
        manifest[f"{split}_bytes"] = int(sum(len(x.encode()) for x in docs[split]))
    manifest["roundtrip_mismatches_of_50_heldout_files"] = corpus.check_roundtrip(
        tok, docs["heldout"])
    manifest["special_token_ids"] = ids
    manifest["vocab_size"] = tok.get_vocab_size()
    manifest["seconds"] = round(time.time() - t0, 1)
    manifest["bytes_per_token_heldout"] = round(manifest["heldout_bytes"] /
                                                max(1, manifest["heldout_tokens"]), 3)
    with open(os.path.join(export, "logs", "data_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    log(f"data: {manifest['train_tokens']} train / {manifest['heldout_tokens']} held-out tokens, "
        f"{manifest['bytes_per_token_heldout']} bytes/token, {manifest['seconds']}s")
    mark_done(a.work, "data", {k: v for k, v in manifest.items() if k not in ("train", "heldout")})
    return read_done(a.work, "data")


def streams(a):
    d = os.path.join(a.work, "data")
    return np.load(os.path.join(d, "train.npy")), np.load(os.path.join(d, "heldout.npy"))


def stage_pretrain(a, hp, info, train, heldout, export, deadline, results):
    if stage_done(a.work, "pretrain"):
        return read_done(a.work, "pretrain")
    seed_all(a.seed)
    cfg = arch.target_config(VOCAB, info["special_token_ids"]["<|endoftext|>"])
    model = arch.new_target(cfg, "cuda")
    results["target_params"] = arch.count_params(model)
    log(f"target: {results['target_params']} parameters")
    x = train.batch(torch.Generator().manual_seed(0), 2)
    results["experts_impl_vs_eager_rel_logit_diff"] = train_target.benchmark_experts(model, x)
    log("bf16 grouped experts vs eager:", results["experts_impl_vs_eager_rel_logit_diff"])
    hp = dict(hp, time_s=deadline.cap(hp["time_s"], a.reserve_after_pretrain))
    csv = CsvLog(os.path.join(export, "logs", "train_log.csv"), TRAIN_FIELDS)
    summary = train_target.train_lm(model, train, heldout.fixed(8), hp, "pretrain", 1, a.seed,
                                    csv, os.path.join(stage_dir(a.work, "pretrain"), "ckpt.pt"))
    arch.save_bf16(model, os.path.join(a.work, "pretrain", "bf16"))
    log("pretrain:", summary)
    mark_done(a.work, "pretrain", summary)
    return summary


def stage_qat(a, hp, info, train, heldout, export, deadline):
    if stage_done(a.work, "qat"):
        return read_done(a.work, "qat")
    seed_all(a.seed + 1)
    cfg = arch.target_config(VOCAB, info["special_token_ids"]["<|endoftext|>"])
    model = arch.new_target(cfg, "cuda")
    ck = torch.load(os.path.join(a.work, "pretrain", "ckpt.pt"), map_location="cuda",
                    weights_only=False)
    model.load_state_dict(ck["model"])
    hp = dict(hp, time_s=deadline.cap(hp["time_s"], a.reserve_after_qat))
    csv = CsvLog(os.path.join(export, "logs", "train_log.csv"), TRAIN_FIELDS)
    summary = train_target.train_lm(model, train, heldout.fixed(8), hp, "qat", 2, a.seed, csv,
                                    os.path.join(stage_dir(a.work, "qat"), "ckpt.pt"))
    summary["expert_snap_rel_change"] = quant_sim.snap_experts_mxfp4(model)
    arch.save_bf16(model, os.path.join(export, "bf16"))
    log("qat:", summary)
    mark_done(a.work, "qat", summary)
    return summary


def stage_drafter(a, hp_data, hp, info, train, export, deadline):
    if stage_done(a.work, "drafter"):
        return read_done(a.work, "drafter")
    seed_all(a.seed + 2)
    target = arch.load_target(os.path.join(export, "bf16"), "cuda", torch.bfloat16, "grouped_mm")
    gen = torch.Generator().manual_seed(a.seed + 3)
    windows = train.batch(gen, hp_data["prompts"])[:, :hp_data["prompt_len"]].contiguous()
    seqs = train_drafter.generate_data(
        target, windows, hp_data["new_tokens"], hp_data["greedy_frac"],
        hp_data["temperature"], hp_data["batch"],
        deadline.cap(hp_data["time_s"], a.reserve_after_drafter + 30))
    feats = train_drafter.target_features(target, seqs, arch.DRAFTER_TARGET_LAYERS)
    ids = info["special_token_ids"]
    drafter_cfg = arch.drafter_config(ids["<|mask|>"], ids["<|endoftext|>"])
    from transformers import MuseGlimmerAssistantModel
    drafter = MuseGlimmerAssistantModel(drafter_cfg).to("cuda").float()
    hp = dict(hp, anchor_min=hp_data["prompt_len"] - 1,
              time_s=deadline.cap(hp["time_s"], a.reserve_after_drafter))
    csv = CsvLog(os.path.join(export, "logs", "drafter_log.csv"),
                 ["step", "loss", "lr", "est_tau", "elapsed_s"] +
                 [f"acc_{k}" for k in range(1, arch.BLOCK_SIZE)])
    summary = train_drafter.train_drafter(drafter, target, feats, seqs, hp, a.seed, csv)
    summary.update({"sequences": int(seqs.shape[0]), "sequence_len": int(seqs.shape[1]),
                    "params": arch.count_params(drafter)})
    out = os.path.join(export, "drafter")
    drafter.to(torch.bfloat16).save_pretrained(out)
    gc = os.path.join(out, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    log("drafter:", summary)
    mark_done(a.work, "drafter", summary)
    return summary


def stage_eval(a, hp, heldout, export, tok, deadline):
    if stage_done(a.work, "eval"):
        return read_done(a.work, "eval")
    from transformers import MuseGlimmerAssistantModel
    res = {}
    win = heldout.fixed(hp["windows"])
    res["heldout_tokens_scored"] = int(win.shape[0] * (win.shape[1] - 1))
    ref = arch.load_target(os.path.join(a.work, "pretrain", "bf16"), "cuda")
    ppl, nll, ref_pred = evaluate.lm_eval(ref, win)
    res["bf16"] = {"ppl": round(ppl, 4), "nll": round(nll, 5)}
    res["ptq_mixed_quant_err"] = quant_sim.apply_mixed(ref)
    ppl, nll, pred = evaluate.lm_eval(ref, win)
    res["ptq_mixed"] = {"ppl": round(ppl, 4), "nll": round(nll, 5),
                        "top1_agreement_vs_bf16": round(evaluate.agreement(pred, ref_pred), 5)}
    del ref
    shipped = arch.load_target(os.path.join(export, "bf16"), "cuda")
    ppl, nll, ship_pred = evaluate.lm_eval(shipped, win)
    res["qat_bf16_export"] = {"ppl": round(ppl, 4), "nll": round(nll, 5),
                              "top1_agreement_vs_bf16": round(
                                  evaluate.agreement(ship_pred, ref_pred), 5)}
    mixed = arch.load_target(os.path.join(export, "bf16"), "cuda")
    res["qat_mixed_quant_err"] = quant_sim.apply_mixed(mixed)
    ppl, nll, pred = evaluate.lm_eval(mixed, win)
    res["qat_mixed"] = {"ppl": round(ppl, 4), "nll": round(nll, 5),
                        "top1_agreement_vs_bf16": round(evaluate.agreement(pred, ref_pred), 5),
                        "top1_agreement_vs_qat_bf16_export": round(
                            evaluate.agreement(pred, ship_pred), 5)}
    log("eval perplexities:", json.dumps(res))
    drafter = MuseGlimmerAssistantModel.from_pretrained(
        os.path.join(export, "drafter"), dtype=torch.float32).to("cuda").eval()
    gen = torch.Generator().manual_seed(a.seed + 4)
    starts = torch.randint(0, len(heldout.data) - hp["prompt_len"] - 1, (hp["prompts"],),
                           generator=gen)
    prompts = [heldout.data[s:s + hp["prompt_len"]].long() for s in starts.tolist()]
    for name, sample in (("greedy", False), ("t0.7", True)):
        r, outs = evaluate.dflash_acceptance(shipped, drafter, prompts, hp["new_tokens"], sample,
                                             hp["temperature"], a.seed,
                                             deadline.cap(hp["time_s"] / 2.5, 12))
        res[f"acceptance_bf16_{name}"] = r
        log(f"acceptance bf16 {name}:", r)
        if not sample:
            k = hp["equality_prompts"] if deadline.left() > 30 else 0
            plain = evaluate.plain_generate(shipped, prompts[:k], hp["new_tokens"])
            res["dflash_greedy_equals_plain_greedy"] = [bool(torch.equal(p, o))
                                                       for p, o in zip(plain, outs[:k])]
            res["samples"] = [{"prompt": tok.decode(prompts[i].tolist()),
                               "greedy_completion": tok.decode(outs[i].tolist())}
                              for i in range(min(2, len(outs)))]
    r, _ = evaluate.dflash_acceptance(mixed, drafter, prompts[:hp["mixed_prompts"]],
                                      hp["new_tokens"], False, None, a.seed,
                                      deadline.cap(hp["time_s"] / 5, 8))
    res["acceptance_qat_mixed_greedy"] = r
    log("acceptance mixed greedy:", r)
    mark_done(a.work, "eval", res)
    return res


TRAIN_FIELDS = ["stage", "step", "tokens", "loss", "lr", "grad_norm", "max_expert_load",
                "elapsed_s", "heldout_loss"]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/demo_work", help="stage outputs and checkpoints")
    p.add_argument("--out", default=os.environ.get("OUT"), help="where packed results go")
    p.add_argument("--smoke", action="store_true", help="tiny step counts, every stage")
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--budget-s", type=float, default=575, help="wall-clock budget of the run")
    p.add_argument("--commit", default="unknown")
    a = p.parse_args()
    a.reserve_after_pretrain = 0 if a.smoke else 240
    a.reserve_after_qat = 0 if a.smoke else 185
    a.reserve_after_drafter = 0 if a.smoke else 70
    cfg = SMOKE if a.smoke else REAL
    deadline = Deadline(a.budget_s)
    export = os.path.join(a.work, "export")
    os.makedirs(os.path.join(export, "logs"), exist_ok=True)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    results_path = os.path.join(export, "logs", "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    results.update({
        "mode": "smoke" if a.smoke else "real", "seed": a.seed, "commit": a.commit,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "device": torch.cuda.get_device_name(0), "python": platform.python_version(),
        "torch": torch.__version__, "hyper_parameters": cfg})
    import tokenizers
    import transformers
    results.update({"transformers": transformers.__version__,
                    "tokenizers": tokenizers.__version__})
    results["quant_self_check"] = quant_sim.self_check("cuda")
    log("quant self-check:", results["quant_self_check"])

    def checkpoint(tag):
        results["wall_s"] = round(time.time() - deadline.end + a.budget_s, 1)
        report.write_results(results_path, results)
        report.plot_losses(os.path.join(export, "logs", "train_log.csv"),
                           os.path.join(export, "logs", "drafter_log.csv"),
                           os.path.join(export, "logs", "loss_curve.png"))
        report.package(export, a.out, tag)

    info = stage_data(a, cfg["data"], export)
    results["data"] = info
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(export, "bf16", "tokenizer.json"))
    tr, ho = streams(a)
    train = train_target.Windows(tr, SEQ_LEN, "cuda")
    heldout = train_target.Windows(ho, SEQ_LEN, "cuda")
    results["pretrain"] = stage_pretrain(a, cfg["pretrain"], info, train, heldout, export,
                                         deadline, results)
    results["qat"] = stage_qat(a, cfg["qat"], info, train, heldout, export, deadline)
    shutil.copy(os.path.join(export, "bf16", "config.json"),
                os.path.join(export, "logs", "target_config.json"))
    checkpoint("target")
    results["drafter"] = stage_drafter(a, cfg["drafter_data"], cfg["drafter"], info, train,
                                       export, deadline)
    checkpoint("drafter")
    results["eval"] = stage_eval(a, cfg["eval"], heldout, export, tok, deadline)
    results["sizes_bytes"] = {os.path.relpath(os.path.join(d, f), export):
                              os.path.getsize(os.path.join(d, f))
                              for d, _, fs in os.walk(export) for f in fs}
    checkpoint("final")
    log("done:", json.dumps({k: results["eval"].get(k) for k in
                             ("bf16", "ptq_mixed", "qat_mixed", "acceptance_bf16_greedy")}))


if __name__ == "__main__":
    main()
