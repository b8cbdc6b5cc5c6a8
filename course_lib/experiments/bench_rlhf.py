"""``python -m course_lib bench rlhf``: RLHF-PPO against GRPO on the same task, measured side by side.

Same task (two-digit arithmetic), same rule reward (``rewards.r1_reward``: accuracy + format), same
starting model (the shipped SFT checkpoint), same number of completions sampled per step (PPO 256
prompts × 2, GRPO 64 prompts × G = 8: 512 each), same sampling temperature (0.7), one process, one
torch thread. Per seed the two methods run one after the other (which goes first alternates), so a
change in machine load hits both.

It prints one table:

* parameters and bytes of model state (``lmrl.cost.state_bytes``): PPO trains the policy and a value
  model and keeps a frozen reference for its KL penalty; GRPO at its default β = 0 trains only
  the policy and keeps no reference (with a rule reward neither needs a reward model);
* peak memory of one training step and its time split into sampling, scoring and update
  (``lmrl.cost.measure_step``, median of a few steps);
* held-out greedy accuracy at equal completions sampled (the last evaluation both runs reached),
  at equal training time (each run's last evaluation after the start within the shorter run's time;
  "not comparable" when one of them made none, never its untrained start), and the steps and seconds
  each needed to gain 25 points over the SFT model.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import numpy as np
import torch

PPO_NAME, GRPO_NAME = "RLHF-PPO", "GRPO"


def run_record(hist: dict, completions_per_step: int, seed: int = 0) -> dict:
    """What the table needs from a ``train_rlhf`` or ``train_grpo`` history."""
    return {"seed": seed, "eval_step": list(hist["eval_step"]), "eval_accuracy": list(hist["eval_accuracy"]),
            "steps": hist["step"][-1], "train_seconds": hist["train_seconds"],
            "completions_per_step": completions_per_step}


def _eval_seconds(run: dict) -> list[float]:
    """Training seconds at each evaluation: step × the run's mean training time per step (evaluations
    excluded; the same rule for both methods, since train_grpo's per-step clock includes its evaluations)."""
    return [s * run["train_seconds"] / run["steps"] for s in run["eval_step"]]


def _first_gain(run: dict, gain: float):
    """(step, seconds) of the first evaluation at least ``gain`` above the first one, else (None, None)."""
    acc = run["eval_accuracy"]
    for s, a, t in zip(run["eval_step"], acc, _eval_seconds(run)):
        if a >= acc[0] + gain - 1e-9:
            return s, t
    return None, None


def _accuracy_at(run: dict, seconds: float) -> float | None:
    """Held-out accuracy at the last evaluation after training began (step > 0) made within ``seconds``
    of training, or None when there is none: the step-0 evaluation is the untrained start, and
    reading it as "the run at ``seconds``" would compare a trained run with an untrained one."""
    acc = [a for s, a, t in zip(run["eval_step"], run["eval_accuracy"], _eval_seconds(run))
           if s > 0 and t <= seconds + 1e-9]
    return acc[-1] if acc else None


def run_pair(seed: int, minutes: float, max_steps: int, eval_every: int, threads: int = 1,
             device=None, ppo_first: bool = True, log=print) -> dict:
    """Train PPO and GRPO from the SFT model for ``minutes`` of training each; their eval curves."""
    from ..grpo import GRPOConfig
    from ..grpo.train import train_grpo
    from ..lm import load_shipped
    from ..rewards import r1_reward
    from ..rlhf import RLHFConfig, train_rlhf
    from ..runs import RunOptions

    out = {}
    for name in ((PPO_NAME, GRPO_NAME) if ppo_first else (GRPO_NAME, PPO_NAME)):
        model, tok, _ = load_shipped("sft")
        if device is not None:
            model.to(device)
        if name == PPO_NAME:
            cfg = RLHFConfig(steps=max_steps, eval_every=eval_every, seed=seed)
            h = train_rlhf(model, r1_reward, cfg, tokenizer=tok, run=RunOptions(threads=threads, max_seconds=minutes * 60))
        else:
            cfg = GRPOConfig(steps=max_steps, eval_every=eval_every, seed=seed)
            h = train_grpo(model, cfg, tokenizer=tok, reward_fn=r1_reward,
                           run=RunOptions(threads=threads, max_seconds=minutes * 60))
        per_step = cfg.batch_size
        rec = run_record(h, per_step, seed)
        out[name] = rec
        log(f"  seed {seed} {name:8s}: held-out accuracy {rec['eval_accuracy'][0]:.1%} -> "
            f"{rec['eval_accuracy'][-1]:.1%} in {rec['steps']} steps, {rec['train_seconds']:.0f} s of training")
    return out


def cost_rows(threads: int = 1, device=None, repeats: int = 3, seed: int = 0) -> dict:
    """Model state, peak memory and the time split of one step of each method (``lmrl.cost``)."""
    from .. import tasks
    from ..grpo import GRPOConfig, grpo_step
    from ..lm import load_shipped
    from ..runs import threads as torch_threads
    from ..lmrl import cost
    from ..rewards import r1_reward
    from ..rlhf import RLHFConfig, ppo_step

    model, tok, _ = load_shipped("sft")
    if device is not None:
        model.to(device)
    problems = tasks.train_problems()
    rows = {}
    with torch_threads(threads):
        for name in (PPO_NAME, GRPO_NAME):
            if name == PPO_NAME:
                step, trained, frozen = ppo_step(copy.deepcopy(model), tok, problems, cfg=RLHFConfig(seed=seed),
                                                      reward=r1_reward, seed=seed)
            else:
                step, trained, frozen = grpo_step(copy.deepcopy(model), tok, problems, cfg=GRPOConfig(seed=seed),
                                                       reward_fn=r1_reward, seed=seed)
            state = cost.state_bytes(trained, frozen)
            m = cost.measure_step(step, device=model.device, repeats=repeats, warmup=1)
            rows[name] = {"state": state, "step": m}
    return rows


def _mean_or_none(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _not_comparable_text(summary: dict) -> str:
    """Why the equal-time row is refused, with the times it was asked at."""
    p = summary[PPO_NAME]
    secs = [t for t, a in zip(p["seconds_compared"], p["accuracy_equal_time_runs"]) if a is None]
    return (f"not comparable: no evaluation after the start within the shorter run's time "
            f"({', '.join(f'{t:.0f} s' for t in secs)}; seed(s) {p['not_comparable_time']})")


def summarize(cost: dict, runs: list[dict], gain: float = 0.25) -> dict:
    """The figures of the table from ``cost_rows`` and a list of ``run_pair`` results
    ({"RLHF-PPO": run_record(...), "GRPO": run_record(...)} per seed).

    Accuracy at equal completions: at the last evaluation step both runs reached (both sample 512
    completions per step). At equal training time: each run at its last evaluation after step 0
    within the shorter run's training time. When a run made no such evaluation (the shorter run
    finished before the longer one's first evaluation after the start), that seed is *not comparable*
    at equal time: the comparison is refused rather than read off the longer run's untrained start
    or off an evaluation made later than the shorter run's time. Such a seed's entry in
    ``accuracy_equal_time_runs`` is None, ``accuracy_equal_time`` is the mean over the comparable
    seeds (None when there is none), and ``not_comparable_time`` names the seeds refused."""
    out = {}
    for name in (PPO_NAME, GRPO_NAME):
        c = cost[name]
        acc_equal_completions, acc_equal_time, to_gain_steps, to_gain_secs, start = [], [], [], [], []
        for pair in runs:
            me, other = pair[name], pair[GRPO_NAME if name == PPO_NAME else PPO_NAME]
            common = max(set(me["eval_step"]) & set(other["eval_step"]))
            acc_equal_completions.append(me["eval_accuracy"][me["eval_step"].index(common)])
            secs = min(me["train_seconds"], other["train_seconds"])
            mine, theirs = _accuracy_at(me, secs), _accuracy_at(other, secs)
            acc_equal_time.append(None if mine is None or theirs is None else mine)
            start.append(me["eval_accuracy"][0])
            s, t = _first_gain(me, gain)
            to_gain_steps.append(s)
            to_gain_secs.append(t)
        common_steps = [max(set(p[PPO_NAME]["eval_step"]) & set(p[GRPO_NAME]["eval_step"])) for p in runs]
        common_secs = [min(p[PPO_NAME]["train_seconds"], p[GRPO_NAME]["train_seconds"]) for p in runs]
        out[name] = {
            "params_trained": sum(r["params"] for r in c["state"]["rows"] if r["role"] == "trained"),
            "params_total": c["state"]["params"], "state_bytes": c["state"]["total"],
            "networks": ", ".join(f"{r['name']} ({r['role']})" for r in c["state"]["rows"]),
            "peak_bytes": c["step"]["peak_bytes"], "peak_method": c["step"]["peak_method"],
            **{f"{p}_s": c["step"][p] for p in ("sampling", "scoring", "update", "total")},
            "start_accuracy": float(np.mean(start)),
            "completions_compared": [s * runs[0][name]["completions_per_step"] for s in common_steps],
            "accuracy_equal_completions": float(np.mean(acc_equal_completions)),
            "accuracy_equal_time": _mean_or_none(acc_equal_time), "seconds_compared": common_secs,
            "not_comparable_time": [p[name]["seed"] for p, a in zip(runs, acc_equal_time) if a is None],
            "accuracy_equal_completions_runs": acc_equal_completions, "accuracy_equal_time_runs": acc_equal_time,
            "steps_to_gain": to_gain_steps, "seconds_to_gain": to_gain_secs,
        }
    return out


def differences(summary: dict, n_eval: int | None = None) -> dict:
    """GRPO − RLHF-PPO at equal completions and at equal time, each a ``stats.Difference``, over the
    seeds comparable at that budget (a key is absent when no seed is: see ``summarize``).

    With one seed the interval is the evaluation's sampling noise only (``n_eval`` held-out problems,
    Newcombe's interval); with several seeds, Welch's interval over the seeds' accuracies.
    """
    from .. import stats, tasks

    n = tasks.EVAL_SIZE if n_eval is None else n_eval
    out = {}
    for key in ("accuracy_equal_completions", "accuracy_equal_time"):
        pairs = [(x, y) for x, y in zip(summary[PPO_NAME][key + "_runs"], summary[GRPO_NAME][key + "_runs"])
                 if x is not None and y is not None]
        if not pairs:  # no seed comparable at equal time: no difference to state
            continue
        a, b = [x for x, _ in pairs], [y for _, y in pairs]
        if len(a) >= 2 and len(b) >= 2:
            out[key] = stats.compare_seeds(a, b)
        else:
            out[key] = stats.compare_accuracies(round(a[0] * n), n, round(b[0] * n), n)
    return out


def format_table(summary: dict, gain: float = 0.25) -> str:
    """The comparison as a Markdown table (the README's and the notebook's)."""
    p, g = summary[PPO_NAME], summary[GRPO_NAME]
    mib = lambda b: "-" if b is None else f"{b / 2**20:.2f} MiB"  # noqa: E731

    def gain_cell(d):
        runs = [(s, t) for s, t in zip(d["steps_to_gain"], d["seconds_to_gain"])]
        return ", ".join("not reached" if s is None else f"{s} steps ({t:.0f} s)" for s, t in runs)

    n_c = p["completions_compared"]
    rows = [
        ("networks", p["networks"], g["networks"]),
        ("parameters trained / kept", f"{p['params_trained']:,} / {p['params_total']:,}",
         f"{g['params_trained']:,} / {g['params_total']:,}"),
        ("model state (weights, grads, Adam)", mib(p["state_bytes"]), mib(g["state_bytes"])),
        (f"peak memory of a step ({p['peak_method']})", mib(p["peak_bytes"]), mib(g["peak_bytes"])),
        ("time per step: sampling", f"{p['sampling_s']:.2f} s", f"{g['sampling_s']:.2f} s"),
        ("time per step: scoring", f"{p['scoring_s']:.2f} s", f"{g['scoring_s']:.2f} s"),
        ("time per step: update", f"{p['update_s']:.2f} s", f"{g['update_s']:.2f} s"),
        ("time per step: total", f"{p['total_s']:.2f} s", f"{g['total_s']:.2f} s"),
        (f"held-out accuracy at equal completions ({', '.join(f'{c:,}' for c in n_c)})",
         f"{p['accuracy_equal_completions']:.1%}", f"{g['accuracy_equal_completions']:.1%}"),
        (f"held-out accuracy at equal training time ({', '.join(f'{t:.0f} s' for t in p['seconds_compared'])})",
         *((f"{p['accuracy_equal_time']:.1%}", f"{g['accuracy_equal_time']:.1%}")
           if p["accuracy_equal_time"] is not None else ("not comparable", "not comparable"))),
        (f"to +{gain * 100:.0f} points (from {p['start_accuracy']:.1%})", gain_cell(p), gain_cell(g)),
    ]
    lines = [f"| | {PPO_NAME} | {GRPO_NAME} |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if "accuracy_equal_time_runs" in p:
        diff = differences(summary)
        seeds = len(p["accuracy_equal_time_runs"])
        noise = ("one seed: the interval is the held-out set's sampling noise only, not the seed's" if seeds == 1
                 else f"{seeds} seeds")
        time_line = (diff["accuracy_equal_time"].verdict() if "accuracy_equal_time" in diff
                     else _not_comparable_text(summary))
        if "accuracy_equal_time" in diff and p["not_comparable_time"]:
            time_line += f" (over the comparable seeds; {_not_comparable_text(summary)})"
        lines += ["", f"{GRPO_NAME} − {PPO_NAME} ({noise}):",
                  f"  at equal completions: {diff['accuracy_equal_completions'].verdict()}",
                  f"  at equal training time: {time_line}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench rlhf", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per run (default 2)")
    parser.add_argument("--max-steps", type=int, default=400, help="step cap per run (default 400)")
    parser.add_argument("--eval-every", type=int, default=5, help="steps between held-out evaluations (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="measured steps for the cost rows (default 3)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: course_lib.get_device())")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.max_steps < 1 or args.eval_every < 1 or args.threads < 1 or args.repeats < 1 \
            or not args.seeds:
        parser.error("--minutes, --max-steps, --eval-every, --threads and --repeats must be positive, one seed at least")
    from ..core import get_device

    device = get_device(args.device)
    print(f"bench rlhf: {platform.processor() or platform.machine()}, {device}, torch {torch.__version__}, "
          f"{args.threads} thread(s); {args.minutes:g} min of training per run, seeds {args.seeds}")
    t0 = time.perf_counter()
    cost = cost_rows(args.threads, device, args.repeats, args.seeds[0])
    print(f"cost of one step measured in {time.perf_counter() - t0:.0f} s")
    runs = [run_pair(s, args.minutes, args.max_steps, args.eval_every, args.threads, device, ppo_first=(i % 2 == 0))
            for i, s in enumerate(args.seeds)]
    summary = summarize(cost, runs)
    print()
    print(format_table(summary))
    print(f"\nbench rlhf finished in {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": str(device), "threads": args.threads, "minutes": args.minutes, "seeds": args.seeds,
                       "cost": cost, "runs": runs, "summary": summary}, f, indent=1, default=str)
        print(f"wrote {args.json}")
    return 0
