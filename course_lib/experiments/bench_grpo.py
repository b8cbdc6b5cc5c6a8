"""``python -m course_lib bench grpo``: GRPO from the shipped SFT checkpoint, seed by seed.

For each seed: held-out greedy accuracy and format rate before and after, the wall-clock of
training (evaluation excluded), completions sampled per second and completion tokens trained per
second. Training runs ``GRPOConfig()``'s defaults for at most ``--steps`` steps or ``--minutes``
of training, whichever comes first.
"""
from __future__ import annotations

import argparse
import json
import platform

import torch

from ..grpo.config import GRPOConfig
from ..grpo.train import train_grpo
from ..runs import RunOptions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench grpo", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=400, help="at most this many GRPO steps (default 400)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per seed (default 5)")
    parser.add_argument("--eval-every", type=int, default=50, help="steps between held-out evaluations")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.minutes <= 0 or args.eval_every < 1 or not args.seeds:
        parser.error("--steps, --minutes and --eval-every must be positive, and one seed at least")

    from ..lm import load_shipped

    print(f"GRPO from the shipped SFT checkpoint; torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s)")
    results = []
    for seed in args.seeds:
        model, tok, _ = load_shipped("sft")
        cfg = GRPOConfig(steps=args.steps, eval_every=args.eval_every, seed=seed)
        h = train_grpo(model, cfg, tokenizer=tok, run=RunOptions(threads=args.threads, max_seconds=args.minutes * 60))
        secs = h["train_seconds"]
        best = max(h["eval_accuracy"])
        r = {"seed": seed, "steps": h["step"][-1], "train_seconds": secs,
             "start_accuracy": h["eval_accuracy"][0], "final_accuracy": h["eval_accuracy"][-1],
             "best_accuracy": best, "start_format": h["eval_format_rate"][0],
             "final_format": h["eval_format_rate"][-1],
             "completions_per_s": h["completions_sampled"] / secs, "tokens_trained_per_s": h["tokens_trained"] / secs,
             "zero_variance_first": h["zero_variance_frac"][0], "zero_variance_last": h["zero_variance_frac"][-1],
             "eval_steps": h["eval_step"], "eval_accuracy": h["eval_accuracy"]}
        results.append(r)
        print(f"seed {seed}: accuracy {r['start_accuracy']:.1%} -> {r['final_accuracy']:.1%} "
              f"({100 * (r['final_accuracy'] - r['start_accuracy']):+.1f} points; best {best:.1%}), "
              f"format {r['start_format']:.1%} -> {r['final_format']:.1%}, {r['steps']} steps in {secs:.0f} s, "
              f"{r['completions_per_s']:.0f} completions/s, {r['tokens_trained_per_s']:.0f} tokens trained/s, "
              f"zero-variance groups {r['zero_variance_first']:.0%} -> {r['zero_variance_last']:.0%}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"config": GRPOConfig(steps=args.steps, eval_every=args.eval_every).__dict__,
                       "threads": args.threads, "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0
