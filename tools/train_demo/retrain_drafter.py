"""Retrains the demo DFlash drafter against the committed quantized target (issue 19, item 3) on
the GPU machine, in one command within --budget-s. The target is not retrained.

Stages:
  target    models/demo/mixed decoded to float32 exactly as the C++ engine reads it
            (mixed_checkpoint.py; numpy decoder checked against the scalar reference), loaded
            as transformers' MiMoV2FlashForCausalLM; its held-out perplexity must reproduce
            models/demo/logs/results.json (eval.qat_mixed.ppl) or the run stops
  data      the target continues training-text prompts (corpus.py; networkx and
            bench/spec_eval/prompts are held out) greedily and at 0.7 / 1.0; tokens, fused
            layer-1/3/5 features and the target's top-k logits are kept
  train     DFlash objective + KL(target || drafter) at several temperatures (distill.py), from
            scratch with --layers layers or from the committed drafter (--init committed)
  export    the new drafter (config.json + bf16 model.safetensors, muse_glimmer_assistant),
            packed into --out before any evaluation
  eval      greedy acceptance (tokens per verify step, per block position) of the new and the
            committed drafter on the 32 spec-eval prompts and 10 held-out networkx windows
            (block_acceptance.py, cross-checked against transformers' DFlash generation on a
            few prompts), loss and acceptance PNGs, results.json, packed again
See tools/train_demo/README.md."""

import argparse
import glob
import json
import os
import platform
import shutil
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arch  # noqa: E402
import block_acceptance  # noqa: E402
import corpus  # noqa: E402
import distill  # noqa: E402
import evaluate  # noqa: E402
import mixed_checkpoint  # noqa: E402
import quant_sim  # noqa: E402
import report  # noqa: E402
from common import CsvLog, Deadline, log, seed_all  # noqa: E402
from train_target import Windows  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET_DIR = os.path.join(REPO, "models/demo/mixed")
COMMITTED_DRAFTER = os.path.join(REPO, "models/demo/drafter")
COMMITTED_RESULTS = os.path.join(REPO, "models/demo/logs/results.json")
SPEC_PROMPTS = os.path.join(REPO, "bench/spec_eval/prompts")
SEQ_LEN = 512
PPL_TOLERANCE = 0.01  # relative; the decoded checkpoint should match to ~1e-4
EVAL_RESERVE_S = 140  # left for evaluation and packing after training (--eval-reserve-s)
MIN_TRAIN_S = 200
REAL = {
    "corpus": {"train_mb": 64, "package_mb": 4, "heldout_mb": 8},
    "data": {"prompts": 32768, "prompt_len": 64, "new_tokens": 192, "batch": 1024,
             "temperatures": [0.0, 0.7, 1.0, 0.0], "topk": 32, "time_s": 75},
    "train": {"batch": 32, "anchors": 32, "gamma": 4.0, "lr": 1.5e-3, "lr_min": 1.5e-4,
              "warmup": 100, "weight_decay": 0.01, "kl_weight": 1.0,
              "kl_temperatures": [1.0, 0.5], "time_s": 600, "steps": 0, "log_every": 25},
    "eval": {"heldout_prompts": 10, "heldout_prompt_len": 128, "spec_prompts": 32,
             "new_tokens": 128, "hf_check_prompts": 3,
             "continuation_s": {"spec_eval": 70, "heldout": 25}},
}
SMOKE = {
    "corpus": {"train_mb": 2, "package_mb": 0.5, "heldout_mb": 8},
    "data": {"prompts": 64, "prompt_len": 32, "new_tokens": 64, "batch": 16,
             "temperatures": [0.0, 0.7, 1.0, 0.0], "topk": 32, "time_s": 15},
    "train": dict(REAL["train"], anchors=16, warmup=5, time_s=15, steps=10, log_every=5),
    "eval": {"heldout_prompts": 2, "heldout_prompt_len": 64, "spec_prompts": 2,
             "new_tokens": 24, "hf_check_prompts": 1,
             "continuation_s": {"spec_eval": 10, "heldout": 5}},
}
COMMITTED_INIT_LR = 7.5e-4  # fine-tuning the committed drafter: half the from-scratch peak


def load_target(work, results):
    """Decodes the mixed checkpoint to float32 safetensors under work/target_f32 and loads it."""
    from safetensors.numpy import save_file
    weights, cfg, st = mixed_checkpoint.load_float32(TARGET_DIR)
    bad = mixed_checkpoint.hand_checks()
    worst = mixed_checkpoint.check_numpy_against_scalar(st, weights)
    results["dequant_check"] = {"hand_check_failures": len(bad), "numpy_vs_scalar_max_diff": worst,
                                "tensors": len(weights)}
    log("dequant check:", results["dequant_check"])
    if bad or worst != 0.0:
        raise SystemExit(f"ABORT: the numpy decoder disagrees with the scalar reference "
                         f"({bad}, max diff {worst})")
    out = os.path.join(work, "target_f32")
    os.makedirs(out, exist_ok=True)
    save_file(weights, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TARGET_DIR, name), out)
    target = arch.load_target(out, "cuda", torch.float32, "eager")
    for p in target.parameters():
        p.requires_grad_(False)
    return target


def check_target(target, heldout, results):
    """The decoded experts must be fixed points of quant_sim's MXFP4 rounding (FP8 requantization
    is logged), and the held-out perplexity must match the committed run's simulated mixed model
    (same 128 networkx windows, float32, eager experts)."""
    grid_change = quant_sim.snap_experts_mxfp4(target)
    fp8_requant = max(((quant_sim.fp8_block_quantize(lin.weight) - lin.weight).norm() /
                       lin.weight.norm()).item() for lin in quant_sim.fp8_linears(target))
    results["quant_sim_check"] = {"experts_rel_change_on_mxfp4_requant": grid_change,
                                  "fp8_linears_max_rel_change_on_requant": fp8_requant}
    log("quant_sim check:", results["quant_sim_check"])
    if grid_change != 0.0:
        raise SystemExit(f"ABORT: decoded experts are not on quant_sim's MXFP4 grid "
                         f"(mean relative change {grid_change})")
    known = json.load(open(COMMITTED_RESULTS))
    want = known["eval"]["qat_mixed"]["ppl"]
    n = known["hyper_parameters"]["eval"]["windows"]
    win = heldout.fixed(n)
    ppl, nll, _ = evaluate.lm_eval(target, win)
    rel = abs(ppl - want) / want
    results["target_check"] = {"heldout_windows": int(win.shape[0]), "ppl": round(ppl, 4),
                               "committed_qat_mixed_ppl": want, "rel_diff": round(rel, 6)}
    log("target check:", results["target_check"])
    if win.shape[0] != n or rel > PPL_TOLERANCE:
        raise SystemExit(f"ABORT: decoded target perplexity {ppl:.4f} on {win.shape[0]} held-out "
                         f"windows, expected {want} on {n} (tolerance {PPL_TOLERANCE:.0%}): the "
                         f"checkpoint decoding or the held-out text differs from the committed run")


def make_data(target, train, hp, seed, deadline, results, eval_reserve_s):
    arch.use_experts_impl(target, arch.EXPERTS_IMPL)
    windows = train.batch(torch.Generator().manual_seed(seed + 3), hp["prompts"])
    prompts = windows[:, :hp["prompt_len"]].contiguous()
    del windows
    time_s = deadline.cap(hp["time_s"], eval_reserve_s + MIN_TRAIN_S)
    seqs, temps = distill.generate(target, prompts, hp["new_tokens"], hp["temperatures"],
                                   hp["batch"], time_s, seed)
    t0 = time.time()
    feats, top_v, top_i = distill.features_and_topk(target, seqs, arch.DRAFTER_TARGET_LAYERS,
                                                    hp["topk"])
    arch.use_experts_impl(target, "eager")
    results["data"] = {
        "sequences": int(seqs.shape[0]), "sequence_len": int(seqs.shape[1]),
        "generated_tokens": int(seqs.shape[0] * hp["new_tokens"]),
        "sequences_per_temperature": {str(t): int((temps == t).sum()) for t in
                                      sorted(set(hp["temperatures"]))},
        "features_topk_s": round(time.time() - t0, 1),
        "greedy_tokens_equal_stored_top1": distill.greedy_consistency(seqs, temps, top_i,
                                                                      hp["prompt_len"])}
    log("data:", results["data"])
    return {"seqs": seqs, "feats": feats, "top_v": top_v, "top_i": top_i}


def new_drafter(a, mask_id, eos_id):
    from transformers import MuseGlimmerAssistantModel
    seed_all(a.seed + 2)
    if a.init == "committed":
        return MuseGlimmerAssistantModel.from_pretrained(
            COMMITTED_DRAFTER, dtype=torch.float32).to("cuda").float()
    cfg = arch.drafter_config(mask_id, eos_id, a.layers)
    return MuseGlimmerAssistantModel(cfg).to("cuda").float()


def export_drafter(drafter, out):
    drafter.to(torch.bfloat16).save_pretrained(out)
    drafter.float()
    gc = os.path.join(out, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)


def spec_prompts(tok, count):
    """The spec-eval prompts as mimo-spec-eval feeds them: raw file text, no chat template."""
    paths = sorted(glob.glob(os.path.join(SPEC_PROMPTS, "*.py")))[:count]
    ids = [tok.encode(open(p).read(), add_special_tokens=False).ids for p in paths]
    return ([torch.tensor(x, dtype=torch.long, device="cuda") for x in ids],
            [os.path.basename(p) for p in paths])


def heldout_prompts(heldout, hp, seed):
    """The held-out windows of run_demo.py's evaluation (same seed, same draw)."""
    gen = torch.Generator().manual_seed(seed + 4)
    n = hp["heldout_prompt_len"]
    starts = torch.randint(0, len(heldout.data) - n - 1, (hp["heldout_prompts"],), generator=gen)
    return [heldout.data[s:s + n].long() for s in starts.tolist()]


def evaluate_drafters(target, drafters, tok, heldout, hp, seed, deadline, results):
    """Replayed greedy acceptance of every drafter on both prompt sets, then transformers'
    DFlash generation with the first drafter on a few spec prompts as a cross-check."""
    sets = {}
    sp, names = spec_prompts(tok, hp["spec_prompts"])
    sets["spec_eval"] = (sp, f"bench/spec_eval/prompts ({len(sp)} prompts, "
                             f"{hp['new_tokens']} tokens)")
    hw = heldout_prompts(heldout, hp, seed)
    sets["heldout"] = (hw, f"networkx windows ({len(hw)} x {hp['heldout_prompt_len']} tokens, "
                           f"{hp['new_tokens']} tokens)")
    res, curves, conts_by_set = {"spec_prompt_files": names}, {}, {}
    for key, (prompts, title) in sets.items():
        t0 = time.time()
        conts = block_acceptance.greedy_continuations(
            target, prompts, hp["new_tokens"], deadline.cap(hp["continuation_s"][key], 30))
        conts_by_set[key] = conts
        log(f"eval {key}: greedy continuations of {len(conts)} of {len(prompts)} prompts in "
            f"{time.time() - t0:.1f}s")
        curves[title] = {}
        for label, d in drafters.items():
            s = block_acceptance.summarize(
                block_acceptance.replay(d, target, prompts[:len(conts)], conts,
                                        hp["new_tokens"]), d.config.block_size)
            res[f"{key}_{label}"] = s
            curves[title][label] = s
            log(f"eval {key} {label}: tau {s['tau']}, per position "
                f"{s['accept_rate_per_position']}")
        results["eval"] = res
    label, d = next(iter(drafters.items()))
    k = hp["hf_check_prompts"]
    r, outs = evaluate.dflash_acceptance(target, d, sp[:k], hp["new_tokens"], False, None, seed,
                                         deadline.cap(20, 15))
    plain = conts_by_set["spec_eval"]
    res["hf_dflash_check"] = {
        "drafter": label, "transformers": r,
        "replay_per_prompt_tau": res[f"spec_eval_{label}"]["per_prompt_tau"][:len(outs)],
        "hf_output_equals_plain_greedy": [bool(torch.equal(o.to(p.device), p))
                                          for o, p in zip(outs, plain)]}
    log("eval transformers DFlash check:", res["hf_dflash_check"])
    return res, curves


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/drafter_work")
    p.add_argument("--out", default=os.environ.get("OUT"), help="where packed results go")
    p.add_argument("--smoke", action="store_true",
                   help="every stage with tiny sizes (< 60 s); packs under <work>/smoke/out")
    p.add_argument("--init", choices=["scratch", "committed"], default="scratch",
                   help="new drafter from scratch (--layers) or fine-tuned from the committed one")
    p.add_argument("--layers", type=int, default=4, help="drafter layers (scratch init)")
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--budget-s", type=float, default=540, help="wall-clock budget of the run")
    p.add_argument("--commit", default="unknown")
    p.add_argument("--data-s", type=float, help="seconds of target generation (REAL: 75)")
    p.add_argument("--data-batch", type=int, help="sequences generated at once (REAL: 1024)")
    p.add_argument("--prompts", type=int, help="training prompts drawn (REAL: 32768)")
    p.add_argument("--eval-reserve-s", type=float, default=EVAL_RESERVE_S,
                   help="seconds kept for evaluation and packing after training")
    p.add_argument("--skip-committed-eval", action="store_true",
                   help="evaluate only the new drafter (the committed one's numbers are known)")
    a = p.parse_args()
    cfg = json.loads(json.dumps(SMOKE if a.smoke else REAL))
    for key, arg in (("time_s", a.data_s), ("batch", a.data_batch), ("prompts", a.prompts)):
        if arg is not None:
            cfg["data"][key] = arg
    deadline = Deadline(a.budget_s)
    work = os.path.join(a.work, "smoke") if a.smoke else a.work
    out_dir = os.path.join(work, "out") if a.smoke else a.out
    export = os.path.join(work, "export")
    for stale in (export, os.path.join(work, "target_f32")):
        shutil.rmtree(stale, ignore_errors=True)
    logs = os.path.join(export, "logs")
    os.makedirs(logs, exist_ok=True)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    hp_train = dict(cfg["train"])
    if a.init == "committed":
        hp_train.update(lr=COMMITTED_INIT_LR, lr_min=COMMITTED_INIT_LR / 10)
    import tokenizers
    import transformers
    results = {"mode": "smoke" if a.smoke else "real", "seed": a.seed, "commit": a.commit,
               "init": a.init, "layers": a.layers if a.init == "scratch" else None,
               "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               "device": torch.cuda.get_device_name(0), "python": platform.python_version(),
               "torch": torch.__version__, "transformers": transformers.__version__,
               "tokenizers": tokenizers.__version__, "budget_s": a.budget_s,
               "hyper_parameters": dict(cfg, train=hp_train)}
    results_path = os.path.join(logs, "results.json")

    def checkpoint(tag):
        results["wall_s"] = round(time.time() - deadline.end + a.budget_s, 1)
        report.write_results(results_path, results)
        report.plot_distill(os.path.join(logs, "distill_log.csv"),
                            os.path.join(logs, "distill_loss.png"))
        report.package(export, out_dir, tag)

    target = load_target(work, results)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(TARGET_DIR, "tokenizer.json"))
    eos_id, mask_id = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|mask|>")
    docs, manifest = corpus.collect(**cfg["corpus"])
    streams = {s: corpus.encode_stream(tok, docs[s], eos_id) for s in ("train", "heldout")}
    results["corpus"] = {"train_tokens": int(len(streams["train"])),
                         "heldout_tokens": int(len(streams["heldout"])),
                         "packages": {s: [m["package"] for m in manifest[s]]
                                      for s in ("train", "heldout")}}
    log("corpus:", results["corpus"])
    train = Windows(streams["train"], SEQ_LEN, "cuda")
    heldout = Windows(streams["heldout"], SEQ_LEN, "cuda")
    check_target(target, heldout, results)

    data = make_data(target, train, cfg["data"], a.seed, deadline, results, a.eval_reserve_s)
    drafter = new_drafter(a, mask_id, eos_id)
    results["drafter_params"] = arch.count_params(drafter)
    results["drafter_layers"] = drafter.config.num_hidden_layers
    hp_train.update(anchor_min=cfg["data"]["prompt_len"] - 1,
                    time_s=deadline.cap(hp_train["time_s"], a.eval_reserve_s))
    csv = CsvLog(os.path.join(logs, "distill_log.csv"),
                 ["step", "loss", "ce", "kl", "lr", "est_tau", "elapsed_s"] +
                 [f"acc_{k}" for k in range(1, arch.BLOCK_SIZE)])
    arch.use_experts_impl(target, arch.EXPERTS_IMPL)
    results["train"] = distill.train(drafter, target, data, hp_train, a.seed, csv)
    arch.use_experts_impl(target, "eager")
    log("train:", results["train"])
    del data
    torch.cuda.empty_cache()
    export_drafter(drafter, os.path.join(export, "drafter"))
    checkpoint("retrain_drafter")

    try:
        from transformers import MuseGlimmerAssistantModel
        drafter = MuseGlimmerAssistantModel.from_pretrained(
            os.path.join(export, "drafter"), dtype=torch.float32).to("cuda").eval()
        drafters = {"new": drafter}
        if not a.skip_committed_eval:
            drafters["committed"] = MuseGlimmerAssistantModel.from_pretrained(
                COMMITTED_DRAFTER, dtype=torch.float32).to("cuda").eval()
        res, curves = evaluate_drafters(target, drafters, tok,
                                        heldout, cfg["eval"], a.seed, deadline, results)
        results["eval"] = res
        report.plot_acceptance(curves, os.path.join(logs, "acceptance_per_position.png"))
    except Exception as e:  # the exported drafter is already packed; keep what eval reached
        results["eval_error"] = f"{type(e).__name__}: {e}"
        log("EVAL FAILED (the drafter is exported):\n" + traceback.format_exc())
    checkpoint("retrain_final")
    log("done:", json.dumps({k: results.get("eval", {}).get(k, {}).get("tau") for k in
                             ("spec_eval_new", "spec_eval_committed", "heldout_new",
                              "heldout_committed")}))
    if "eval_error" in results:
        sys.exit(3)


if __name__ == "__main__":
    main()
