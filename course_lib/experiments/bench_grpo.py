"""``python -m course_lib bench grpo``: a GRPO step against its floor, then GRPO from the shipped SFT checkpoint, seed by seed.

1. **The step against its floor** (``--prompts-per-step``, default 8 and 64 prompts × G = 8). The
   floor is one forward and backward pass of a step's sampled batch, every completion of it,
   padded, each with its own copy of the prompt (``floor_pass``: what ``bench trl``'s ``floor``
   line times): the least work a trainer that runs that pass once per step does. Timed in one loop,
   taking turns so that both see the same machine load: ``GRPOState.step`` as ``train_grpo`` takes
   it ("after"), the same step with its shortcuts switched off ("before": the whole batch in the
   update, each completion with its own prompt; sampling in inference mode and Adam and the clip on
   one flat buffer, ``grpo.optim.FlatAdam``, serve both), and the floor pass, which runs on the batch
   of a run's first step (prompts drawn as the step draws them). Printed: median milliseconds
   per step, completions per second, the step's share of the floor (floor time / step time; above
   100 % the step costs less than the one standard pass, because it leaves out the groups without
   gradient and runs each prompt once) and after/before.
2. **Training** (``--seeds``): for each seed, held-out greedy accuracy and format rate before and
   after, the wall-clock of training (evaluation excluded), completions sampled per second and
   completion tokens trained per second, and when the accuracy first stood 25 points above the
   start (wall-clock including evaluations, as notebook 08 reports it); then the median of that
   time over the seeds. Training runs ``GRPOConfig()``'s defaults for at most ``--steps`` steps or
   ``--minutes`` of training, whichever comes first. ``--seeds`` with no value skips this part.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import numpy as np
import torch

from ..grpo.config import GRPOConfig
from ..grpo.train import GRPOState, grpo_rollout, train_grpo
from ..runs import RunOptions
from ..runs import threads as torch_threads

TARGET_GAIN = 0.25  # notebook 08's goal: held-out accuracy 25 points above the SFT checkpoint


def floor_pass(model, tok, cfg: GRPOConfig, seed: int = 0):
    """The floor of a GRPO step: a function that runs one forward and backward pass over a batch
    sampled as a step samples it (the batch of the first step of a run with this seed:
    ``prompts_per_step`` training prompts drawn at random, G completions each), every completion
    padded to the batch's width with its own copy of the prompt, and nothing else (no reward, loss
    bookkeeping or optimiser step). Returns (the function, the batch).

    The prompts are drawn as ``GRPOState.step`` draws them, not taken from the top of the list: the
    first training problems are the shortest ("0+0=", one-digit answers), so a batch of them is
    about a fifth smaller than the batches a step trains on."""
    from .. import tasks
    from ..rewards import r1_reward

    problems = list(tasks.train_problems())
    drawn = np.random.default_rng(seed).integers(0, len(problems), size=cfg.prompts_per_step)
    batch = grpo_rollout(model, tok, [problems[i] for i in drawn], cfg, torch.Generator().manual_seed(seed),
                         r1_reward)

    model.train()

    def one_pass():
        logp = batch.token_logprobs(model)
        (logp * batch.mask).sum().backward()
        model.zero_grad(set_to_none=True)

    return one_pass, batch


def step_against_floor(prompts_per_step: int, group_size: int = 8, repeats: int = 15, warmup: int = 3) -> dict:
    """Median seconds of GRPOState.step after and before its shortcuts, and of the floor pass, timed
    in turns in one loop (see the module docstring). Runs on the calling thread's torch threads."""
    from .. import tasks
    from ..lm import load_shipped

    sft, tok, _ = load_shipped("sft")
    cfg = GRPOConfig(prompts_per_step=prompts_per_step, group_size=group_size, seed=0)
    problems = list(tasks.train_problems())
    runs = {}
    for name in ("after", "before"):
        state = GRPOState.create(copy.deepcopy(sft), cfg, tokenizer=tok)
        state.skip_zero_advantage = state.share_prompts = name == "after"
        gen, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)
        runs[name] = (lambda s=state, g=gen, r=rng: s.step(problems, g, r))
    floor, batch = floor_pass(copy.deepcopy(sft), tok, cfg)
    runs["floor"] = floor
    times = {name: [] for name in runs}
    zero_var = []
    for i in range(warmup + repeats):
        order = list(runs)[i % 3:] + list(runs)[:i % 3]  # each takes each place in turn
        for name in order:
            t = time.perf_counter()
            rec = runs[name]()
            if i >= warmup:
                times[name].append(time.perf_counter() - t)
                if name == "after":
                    zero_var.append(rec["zero_variance_frac"])
    out = {name: float(np.median(v)) for name, v in times.items()}
    out.update(prompts_per_step=prompts_per_step, batch=cfg.batch_size, repeats=repeats,
               floor_tokens=int(batch.tokens.numel()), zero_variance_frac=float(np.mean(zero_var)))
    return out


def _reached(h, gain: float = TARGET_GAIN):
    """(step, wall-clock seconds incl. evaluations) of the first evaluation ``gain`` above the start, or None."""
    target = h["eval_accuracy"][0] + gain - 1e-9
    for step, acc in zip(h["eval_step"], h["eval_accuracy"]):
        if step > 0 and acc >= target:
            return step, h["seconds"][step - 1]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench grpo", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds (default 0 1 2; none: no training)")
    parser.add_argument("--steps", type=int, default=400, help="at most this many GRPO steps (default 400)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per seed (default 5)")
    parser.add_argument("--eval-every", type=int, default=25, help="steps between held-out evaluations (default 25)")
    parser.add_argument("--prompts-per-step", type=int, nargs="*", default=[8, 64],
                        help="batch sizes of the step-against-floor timing (default 8 64; none: skip it)")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps of each kind per batch size (default 15)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.minutes <= 0 or args.eval_every < 1 or args.repeats < 1 \
            or any(p < 1 for p in args.prompts_per_step) or (not args.seeds and not args.prompts_per_step):
        parser.error("--steps, --minutes, --eval-every, --repeats and --prompts-per-step must be positive, "
                     "and there must be something to run")

    from ..lm import load_shipped

    print(f"bench grpo: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s)")
    floors = []
    if args.prompts_per_step:
        print(f"1. the step against its floor (one forward + backward of the step's whole batch, padded); "
              f"medians of {args.repeats} steps of each, timed in turns")
        for pps in args.prompts_per_step:
            with torch_threads(args.threads):
                f = step_against_floor(pps, repeats=args.repeats)
            floors.append(f)
            print(f"  {pps} prompts x G 8 = {f['batch']} completions ({f['floor_tokens']} token positions; "
                  f"{f['zero_variance_frac']:.0%} of groups with all rewards equal):")
            print(f"    floor  {1000 * f['floor']:7.1f} ms  ({f['batch'] / f['floor']:6.0f} completions/s)")
            for name in ("before", "after"):
                print(f"    {name:6s} {1000 * f[name]:7.1f} ms  ({f['batch'] / f[name]:6.0f} completions/s), "
                      f"{f['floor'] / f[name]:4.0%} of the floor")
            print(f"    after/before: {f['before'] / f['after']:.2f}x faster; target >= 85% of the floor: "
                  f"{'met' if f['floor'] / f['after'] >= 0.85 else 'not met'}")

    results = []
    if args.seeds:
        print(f"2. GRPO from the shipped SFT checkpoint (GRPOConfig() defaults, at most {args.steps} steps or "
              f"{args.minutes:g} minutes, evaluation every {args.eval_every} steps)")
    for seed in args.seeds:
        model, tok, _ = load_shipped("sft")
        cfg = GRPOConfig(steps=args.steps, eval_every=args.eval_every, seed=seed)
        h = train_grpo(model, cfg, tokenizer=tok, run=RunOptions(threads=args.threads, max_seconds=args.minutes * 60))
        secs = h["train_seconds"]
        best = max(h["eval_accuracy"])
        reached = _reached(h)
        r = {"seed": seed, "steps": h["step"][-1], "train_seconds": secs,
             "start_accuracy": h["eval_accuracy"][0], "final_accuracy": h["eval_accuracy"][-1],
             "best_accuracy": best, "start_format": h["eval_format_rate"][0],
             "final_format": h["eval_format_rate"][-1],
             "completions_per_s": h["completions_sampled"] / secs, "tokens_trained_per_s": h["tokens_trained"] / secs,
             "zero_variance_first": h["zero_variance_frac"][0], "zero_variance_last": h["zero_variance_frac"][-1],
             "eval_steps": h["eval_step"], "eval_accuracy": h["eval_accuracy"],
             "target_step": reached[0] if reached else None, "target_seconds": reached[1] if reached else None}
        results.append(r)
        print(f"seed {seed}: accuracy {r['start_accuracy']:.1%} -> {r['final_accuracy']:.1%} "
              f"({100 * (r['final_accuracy'] - r['start_accuracy']):+.1f} points; best {best:.1%}), "
              f"format {r['start_format']:.1%} -> {r['final_format']:.1%}, {r['steps']} steps in {secs:.0f} s, "
              f"{r['completions_per_s']:.0f} completions/s, {r['tokens_trained_per_s']:.0f} tokens trained/s, "
              f"zero-variance groups {r['zero_variance_first']:.0%} -> {r['zero_variance_last']:.0%}, "
              + (f"+25 points at the step-{reached[0]} evaluation after {reached[1]:.0f} s" if reached
                 else "+25 points not reached"))
    if results:
        times = [r["target_seconds"] for r in results]
        if all(t is not None for t in times):
            print(f"time to +25 points (wall-clock incl. evaluations): median {np.median(times):.0f} s over "
                  f"{len(times)} seeds (per seed {', '.join(f'{t:.0f}' for t in times)} s)")
        else:
            print(f"time to +25 points: reached by {sum(t is not None for t in times)} of {len(times)} seeds, "
                  f"so no median")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"config": GRPOConfig(steps=args.steps, eval_every=args.eval_every).__dict__,
                       "threads": args.threads, "floor": floors, "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0
