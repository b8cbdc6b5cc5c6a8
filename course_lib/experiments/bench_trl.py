"""``python -m course_lib bench trl``: course_lib's ``train_grpo`` against TRL's ``GRPOTrainer``.

Both train the same shipped SFT model (TRL on its export to transformers, ``course_lib.hf``) with
the same batch (prompts per step × G), G, completion length, temperature, learning rate and
reward (the course's accuracy + format, R1's equal-weight sum), in one process, one torch
thread, for the same number of optimiser steps. Printed per batch size: completions sampled per
second and optimiser steps per second for each, their ratio, and where TRL's time goes (a
cProfile summary of a second, profiled TRL run; the timed runs are not profiled), and the floor:
how long one forward and backward pass of a step's batch takes alone, which bounds the
completions per second of any trainer that runs it once per step.

Training time excludes held-out evaluation for course_lib (``train_seconds``) and the
trainer's construction for TRL (printed separately as set-up).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import time

import torch

# Where TRL's time goes: (label, substring of a profiled function's "file:line(name)").
PROFILE_GROUPS: tuple[tuple[str, str], ...] = (
    ("sampling: transformers generate", "generation/utils.py"),
    ("log-probs: forward passes for the loss", "_get_per_token_logps_and_entropies"),
    ("backward pass", "run_backward"),
    ("optimiser step", "optimizer.py"),
    ("rewards: the course's functions", "_calculate_rewards"),
    ("Trainer loop (total)", "_inner_training_loop"),
)


def _course_run(cfg, tok, threads: int) -> dict:
    try:
        from ..grpo import train_grpo
    except ImportError:  # older layout: the loop lives in course_lib.grpo.train
        from ..grpo.train import train_grpo
    from ..lm import load_shipped
    from ..runs import RunOptions
    from .. import tasks

    model, _, _ = load_shipped("sft")
    h = train_grpo(model, cfg, tokenizer=tok, eval_set=list(tasks.eval_problems())[:1], run=RunOptions(threads=threads))
    secs = h["train_seconds"]
    return {"seconds": secs, "steps": len(h["step"]), "completions": h["completions_sampled"]}


def _trl_trainer(cfg, tok):
    from ..hf import make_trl_trainer
    from ..lm import load_shipped

    model, _, _ = load_shipped("sft")
    return make_trl_trainer(model, cfg, tokenizer=tok)


def _trl_run(cfg, tok, threads: int) -> dict:
    from ..runs import threads as torch_threads

    with torch_threads(threads):
        t = time.perf_counter()
        trainer = _trl_trainer(cfg, tok)
        setup = time.perf_counter() - t
        t = time.perf_counter()
        trainer.train()
        secs = time.perf_counter() - t
    steps = trainer.state.global_step
    return {"seconds": secs, "setup_seconds": setup, "steps": steps, "completions": steps * cfg.batch_size}


def training_pass_floor(cfg, tok, threads: int, repeats: int = 5) -> dict:
    """The least work any GRPO trainer does per step: one forward and backward of a step's batch.

    One batch is sampled as ``train_grpo`` samples it (same prompts, G, completion length); then the
    token log-probs of its completions under the model and their gradient are timed alone
    (``bench_grpo.floor_pass``: every completion, padded, with its own copy of the prompt), with no
    sampling, reward, loss bookkeeping or optimiser step. ``completions_per_s`` is then a ceiling
    for every trainer that runs this pass once per step; a step that leaves part of the batch out of
    the update (course_lib's, see ``bench grpo``) can exceed it.
    """
    from ..lm import load_shipped
    from ..runs import threads as torch_threads
    from .bench_grpo import floor_pass

    model, _, _ = load_shipped("sft")
    with torch_threads(threads):
        one_pass, batch = floor_pass(model, tok, cfg)
        one_pass()  # warm-up
        t = time.perf_counter()
        for _ in range(repeats):
            one_pass()
        secs = (time.perf_counter() - t) / repeats
    return {"seconds": secs, "completions_per_s": len(batch) / secs,
            "tokens": int(batch.tokens.numel()), "batch": len(batch)}


def profile_trl(cfg, tok, threads: int, top: int = 12) -> tuple[dict, str]:
    """Profile one TRL training run: seconds per group of ``PROFILE_GROUPS`` and the top entries."""
    from ..runs import threads as torch_threads

    with torch_threads(threads):
        trainer = _trl_trainer(cfg, tok)
        prof = cProfile.Profile()
        prof.enable()
        trainer.train()
        prof.disable()
    stats = pstats.Stats(prof)
    groups = {}
    for label, pattern in PROFILE_GROUPS:
        best = 0.0
        for (file, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
            if pattern in f"{file}:{line}({name})":
                best = max(best, ct)  # the outermost matching call's cumulative time
        groups[label] = best
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return groups, "\n".join(lines[start:start + top + 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench trl", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per run (default 20)")
    parser.add_argument("--prompts-per-step", type=int, nargs="+", default=[8, 64],
                        help="batch sizes to compare, in prompts per step (default 8 64)")
    parser.add_argument("--group-size", type=int, default=8, help="G (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--profile-steps", type=int, default=5, help="steps of the profiled TRL run (0: none)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.group_size < 2 or args.threads < 1 or args.profile_steps < 0 \
            or not args.prompts_per_step or min(args.prompts_per_step) < 1:
        parser.error("--steps, --threads and --prompts-per-step must be positive, --group-size >= 2")

    import transformers
    import trl

    from .. import tasks
    from ..grpo import GRPOConfig

    tok = tasks.make_tokenizer()
    print(f"bench trl: course_lib train_grpo vs TRL GRPOTrainer on the shipped SFT model (same process)\n"
          f"  torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
          f"{platform.machine()}, {args.threads} torch thread(s), device cpu\n"
          f"  same settings for both: G = {args.group_size}, max completion length 4, temperature 0.7, lr 5e-4, "
          f"beta 0, n_epochs (μ) 1, reward = accuracy + format; {args.steps} optimiser steps per run")
    results = []
    for pps in args.prompts_per_step:
        cfg = GRPOConfig(steps=args.steps, prompts_per_step=pps, group_size=args.group_size,
                         eval_every=args.steps, seed=0)
        course = _course_run(cfg, tok, args.threads)
        trl_r = _trl_run(cfg, tok, args.threads)
        r = {"prompts_per_step": pps, "batch": cfg.batch_size, "course": course, "trl": trl_r}
        for who in (course, trl_r):
            who["completions_per_s"] = who["completions"] / who["seconds"]
            who["steps_per_s"] = who["steps"] / who["seconds"]
        r["ratio"] = course["completions_per_s"] / trl_r["completions_per_s"]
        results.append(r)
        print(f"batch {pps} prompts x G {args.group_size} = {cfg.batch_size} completions per step:")
        print(f"  course_lib: {course['completions_per_s']:8.0f} completions/s, {course['steps_per_s']:6.2f} "
              f"optimiser steps/s ({course['steps']} steps in {course['seconds']:.1f} s)")
        print(f"  TRL       : {trl_r['completions_per_s']:8.0f} completions/s, {trl_r['steps_per_s']:6.2f} "
              f"optimiser steps/s ({trl_r['steps']} steps in {trl_r['seconds']:.1f} s; trainer set-up "
              f"{trl_r['setup_seconds']:.1f} s not counted)")
        print(f"  ratio course_lib/TRL: {r['ratio']:.1f}x completions/s")
        floor = training_pass_floor(cfg, tok, args.threads)
        r["floor"] = floor
        print(f"  floor: one forward + backward of the step's {floor['batch']} sequences ({floor['tokens']} token "
              f"positions) alone takes {1000 * floor['seconds']:.0f} ms, so no trainer that runs it once per step "
              f"exceeds {floor['completions_per_s']:.0f} completions/s; course_lib reaches "
              f"{course['completions_per_s'] / floor['completions_per_s']:.0%} of that (above 100 %: its update "
              f"leaves out the groups without gradient and runs each prompt once), TRL "
              f"{trl_r['completions_per_s'] / floor['completions_per_s']:.0%}")
    if args.profile_steps:
        pps = args.prompts_per_step[-1]
        cfg = GRPOConfig(steps=args.profile_steps, prompts_per_step=pps, group_size=args.group_size, seed=0)
        groups, table = profile_trl(cfg, tok, args.threads)
        total = groups["Trainer loop (total)"] or 1.0
        print(f"where TRL's time goes ({args.profile_steps} profiled steps at {pps} prompts x G; cumulative "
              f"seconds under cProfile, groups overlap with the total):")
        for label, secs in groups.items():
            print(f"  {label:42s} {secs:6.2f} s ({100 * secs / total:4.0f}%)")
        print("top functions by own time:")
        print(table)
        results.append({"profile": groups})
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"steps": args.steps, "threads": args.threads, "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0
