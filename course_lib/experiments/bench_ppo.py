"""``python -m course_lib bench ppo``: course_lib PPO against Stable-Baselines3 PPO, same process.

Both libraries get the rl-zoo tuned CartPole-v1 settings (``PPOConfig()``'s defaults: 8 envs ×
32 steps, one minibatch of 256, 20 epochs, γ 0.98, λ 0.8, learning rate linear from 1e-3, clip
linear from 0.2, no entropy bonus, separate 64-64 tanh nets for policy and value, Adam ε 1e-5,
gradient norm clipped at 0.5) and the same torch thread setting. The runs alternate between the
libraries seed by seed (which one goes first alternates too), so a change in machine load hits
both. Both are evaluated with the same function every 5k steps (10 greedy episodes side by
side); evaluation time is excluded from training time.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from ..ppo.config import PPOConfig
from ..ppo.train import SOLVED_RETURN, steps_to_solve, train_ppo


def _run(lib: str, cfg: PPOConfig) -> dict:
    if lib == "course_lib":
        _, h = train_ppo("CartPole-v1", cfg)
    else:
        from .sb3 import train_sb3

        _, h = train_sb3("CartPole-v1", cfg)
    solved = steps_to_solve(h, SOLVED_RETURN)
    return {
        "lib": lib, "seed": cfg.seed,
        "solved_steps": solved[0] if solved else None,
        "solved_seconds": solved[1] if solved else None,
        "steps": h["env_steps"][-1], "train_seconds": h["train_seconds"][-1],
        "throughput": h["env_steps"][-1] / h["train_seconds"][-1],
        "total_seconds": h["total_seconds"], "final_eval": h["eval_returns"][-1] if h["eval_returns"] else None,
        "update_seconds": h["update_seconds"], "evals": h["eval_returns"],
    }


def _fmt(x, spec: str) -> str:
    if x is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "-".rjust(int(width) if width else 1)
    return format(x, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench ppo", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run (default 100000)")
    parser.add_argument("--eval-every", type=int, default=5_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=10, help="greedy episodes per evaluation")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 256 or args.eval_every < 1 or args.eval_episodes < 1 or not args.seeds:
        parser.error("--steps must be >= 256, --eval-every and --eval-episodes positive, and one seed at least")
    if args.eval_every > args.steps:
        parser.error("--eval-every must not exceed --steps (every run needs an evaluation)")

    import stable_baselines3

    base = PPOConfig(total_steps=args.steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes)
    print("PPO on CartPole-v1: course_lib vs Stable-Baselines3 (rl-zoo settings, same process)")
    print(f"  torch {torch.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, torch threads {base.torch_threads}, "
          f"{_cpu_name()}")
    print(f"  {args.steps} env steps per run, evaluation every {args.eval_every} steps "
          f"({args.eval_episodes} greedy episodes), solved = two evaluations in a row >= {SOLVED_RETURN:g}")
    runs = []
    started = time.perf_counter()
    for k, seed in enumerate(args.seeds):
        order = ["course_lib", "sb3"] if k % 2 == 0 else ["sb3", "course_lib"]
        for lib in order:
            r = _run(lib, base.replace(seed=seed))
            runs.append(r)
            print(f"  seed {seed} {lib:10s}: solved at {_fmt(r['solved_steps'], 'd')} steps / "
                  f"{_fmt(r['solved_seconds'], '.1f')} s, {r['throughput']:7.0f} steps/s over {r['steps']} steps, "
                  f"train {r['train_seconds']:5.1f} s, total {r['total_seconds']:5.1f} s, "
                  f"final eval {_fmt(r['final_eval'], '.1f')}", flush=True)

    print()
    header = (f"{'library':12s} {'solved':>7s} {'steps to solve':>15s} {'s to solve':>11s} "
              f"{'train steps/s':>14s} {'total s':>8s} {'final eval':>11s}")
    print(header)
    summary = {}
    for lib in ("course_lib", "sb3"):
        rs = [r for r in runs if r["lib"] == lib]
        solved = [r for r in rs if r["solved_steps"] is not None]
        s = {
            "solved": f"{len(solved)}/{len(rs)}",
            "steps_to_solve": statistics.mean(r["solved_steps"] for r in solved) if solved else None,
            "seconds_to_solve": statistics.mean(r["solved_seconds"] for r in solved) if solved else None,
            "throughput": statistics.mean(r["throughput"] for r in rs),
            "total_seconds": statistics.mean(r["total_seconds"] for r in rs),
            "final_eval": (statistics.mean(r["final_eval"] for r in rs)
                           if all(r["final_eval"] is not None for r in rs) else None),
        }
        summary[lib] = s
        print(f"{lib:12s} {s['solved']:>7s} {_fmt(s['steps_to_solve'], '15.0f')} "
              f"{_fmt(s['seconds_to_solve'], '11.1f')} {s['throughput']:14.0f} {s['total_seconds']:8.1f} "
              f"{_fmt(s['final_eval'], '11.1f')}")
    a, b = summary["course_lib"], summary["sb3"]
    ratios = {
        "throughput": a["throughput"] / b["throughput"],
        "seconds_to_solve": (b["seconds_to_solve"] / a["seconds_to_solve"]
                             if a["seconds_to_solve"] and b["seconds_to_solve"] else None),
        "total_seconds": b["total_seconds"] / a["total_seconds"],
    }
    per_seed = [next(r for r in runs if r["lib"] == "course_lib" and r["seed"] == s)["throughput"]
                / next(r for r in runs if r["lib"] == "sb3" and r["seed"] == s)["throughput"] for s in args.seeds]
    print(f"ratios course_lib/SB3 (means over seeds): training throughput {ratios['throughput']:.2f}x "
          f"(per seed {', '.join(f'{x:.2f}x' for x in per_seed)}), "
          f"time to solve {_fmt(ratios['seconds_to_solve'], '.2f')}x faster, "
          f"total wall-clock {ratios['total_seconds']:.2f}x faster")
    share = {lib: statistics.mean(r["update_seconds"] / r["train_seconds"] for r in runs if r["lib"] == lib)
             for lib in ("course_lib", "sb3")}
    upd = {lib: statistics.mean(r["update_seconds"] for r in runs if r["lib"] == lib) for lib in ("course_lib", "sb3")}
    col = {lib: statistics.mean(r["train_seconds"] - r["update_seconds"] for r in runs if r["lib"] == lib)
           for lib in ("course_lib", "sb3")}
    print(f"where the training time goes (means): course_lib {upd['course_lib']:.1f} s updating + "
          f"{col['course_lib']:.1f} s collecting ({share['course_lib']:.0%} updates); SB3 {upd['sb3']:.1f} s + "
          f"{col['sb3']:.1f} s ({share['sb3']:.0%} updates); bench wall-clock {time.perf_counter() - started:.0f} s")
    all_solved = all(r["solved_steps"] is not None for r in runs if r["lib"] == "course_lib")
    target = all_solved and min(per_seed) >= 2.0
    print(f"target (every course_lib seed solves, throughput >= 2x SB3 on every seed): {'met' if target else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "summary": summary, "ratios": ratios, "per_seed_throughput_ratio": per_seed,
                       "machine": _cpu_name()}, f, indent=1)
    return 0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({_ncpu()} cores)"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ncpu() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
