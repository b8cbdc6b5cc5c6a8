"""``python -m course_lib bench ppo``: course_lib PPO against Stable-Baselines3 and PureJaxRL, runs alternating.

All get the rl-zoo tuned CartPole-v1 settings (``PPOConfig()``'s defaults: 8 envs × 32 steps, one
minibatch of 256, 20 epochs, γ 0.98, λ 0.8, learning rate linear from 1e-3, clip linear from 0.2,
no entropy bonus, separate 64-64 tanh nets for policy and value, Adam ε 1e-5, gradient norm clipped
at 0.5). course_lib and SB3 run in this process with the same torch thread setting; PureJaxRL
(a peer only where a checkout and an environment with JAX are given: it is not a dependency of the
course) runs in a child process of that environment, compiled once before the first timed run
(``purejaxrl_peer.py``). The runs alternate between the libraries seed by seed (which one goes
first rotates too), so a change in machine load hits all of them: compare the ratios it prints,
not absolute figures from different runs. course_lib and SB3 are evaluated with the same function
every 5k steps (10 greedy episodes side by side); evaluation time is excluded from training time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from ..ppo.config import PPOConfig
from ..ppo.policy import ActorCritic
from ..ppo.train import SOLVED_RETURN, steps_to_solve, train_ppo

PEERS = ("sb3", "purejaxrl")


def _run(lib: str, cfg: PPOConfig) -> dict:
    if lib == "course_lib":
        h = train_ppo(ActorCritic.for_env("CartPole-v1", cfg), "CartPole-v1", cfg)
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


class _PureJaxRL:
    """PureJaxRL's PPO in a child process of the JAX environment (``purejaxrl_peer.py --serve``):
    compiled once at start, then one timed run per seed sent."""

    def __init__(self, python: str, checkout: str, steps: int):
        import subprocess

        script = Path(__file__).with_name("purejaxrl_peer.py")
        self.proc = subprocess.Popen([python, str(script), "--purejaxrl", checkout, "--steps", str(steps), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = self._read()  # waits for the compile, so no measured run overlaps it

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the PureJaxRL peer stopped (exit code {self.proc.wait()}); run purejaxrl_peer.py "
                               "by hand to see why")
        return json.loads(line)

    def run(self, seed: int) -> dict:
        self.proc.stdin.write(f"{seed}\n")
        self.proc.stdin.flush()
        r = self._read()
        r.update(solved_steps=None, solved_seconds=None, total_seconds=r["train_seconds"], final_eval=None,
                 update_seconds=None, evals=[])
        return r

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _purejaxrl_peer(python: str | None, checkout: str | None, steps: int) -> tuple[_PureJaxRL | None, str]:
    """The PureJaxRL peer, or None and why it is skipped (no JAX where it looked, no checkout)."""
    import subprocess

    python = python or sys.executable
    if not checkout:
        return None, "no PureJaxRL checkout given (--purejaxrl PATH or the PUREJAXRL variable)"
    if not (Path(checkout) / "purejaxrl" / "ppo.py").is_file():
        return None, f"{checkout} holds no purejaxrl/ppo.py"
    probe = subprocess.run([python, "-c", "import jax, flax, optax, distrax, gymnax"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"JAX and PureJaxRL's requirements are not importable by {python} ({last})"
    return _PureJaxRL(python, checkout, steps), ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench ppo", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run (default 100000)")
    parser.add_argument("--eval-every", type=int, default=5_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=10, help="greedy episodes per evaluation")
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS),
                        help="libraries to race course_lib against (default: sb3 purejaxrl)")
    parser.add_argument("--purejaxrl", default=os.environ.get("PUREJAXRL"),
                        help="a PureJaxRL checkout (default: the PUREJAXRL variable); without one it is skipped")
    parser.add_argument("--peer-python", default=os.environ.get("PUREJAXRL_PYTHON"),
                        help="the Python of an environment with JAX, flax, optax, distrax and gymnax "
                             "(default: the PUREJAXRL_PYTHON variable, else this Python)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 256 or args.eval_every < 1 or args.eval_episodes < 1 or not args.seeds:
        parser.error("--steps must be >= 256, --eval-every and --eval-episodes positive, and one seed at least")
    if args.eval_every > args.steps:
        parser.error("--eval-every must not exceed --steps (every run needs an evaluation)")

    base = PPOConfig(total_steps=args.steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes)
    libs = ["course_lib"]
    versions = [f"torch {torch.__version__}"]
    if "sb3" in args.peers:
        import stable_baselines3

        libs.append("sb3")
        versions.append(f"stable-baselines3 {stable_baselines3.__version__}")
    pjx = None
    if "purejaxrl" in args.peers:
        pjx, why = _purejaxrl_peer(args.peer_python, args.purejaxrl, args.steps)
        if pjx is None:
            print(f"PureJaxRL peer skipped: {why}")
        else:
            libs.append("purejaxrl")
            versions.append(f"jax {pjx.ready['jax']} ({pjx.ready['backend']}, PureJaxRL compiled in "
                            f"{pjx.ready['compile_seconds']:.1f} s)")
    names = {"course_lib": "course_lib", "sb3": "Stable-Baselines3", "purejaxrl": "PureJaxRL"}
    print(f"PPO on CartPole-v1: {' vs '.join(names[lib] for lib in libs)} (rl-zoo settings, runs alternating)")
    print(f"  {', '.join(versions)}, python {platform.python_version()}, {platform.machine()}, "
          f"course_lib torch threads {base.torch_threads}, {_cpu_name()}, load average {_load()}")
    print(f"  {args.steps} env steps per run, evaluation every {args.eval_every} steps "
          f"({args.eval_episodes} greedy episodes; PureJaxRL does not evaluate), "
          f"solved = two evaluations in a row >= {SOLVED_RETURN:g}")
    runs = []
    started = time.perf_counter()
    try:
        for k, seed in enumerate(args.seeds):
            order = libs[k % len(libs):] + libs[:k % len(libs)]  # who goes first rotates
            for lib in order:
                r = pjx.run(seed) if lib == "purejaxrl" else _run(lib, base.replace(seed=seed))
                runs.append(r)
                tail = (f"mean return of its last 20 training episodes {r['last_returns_mean']:.1f}" if lib == "purejaxrl"
                        else f"final eval {_fmt(r['final_eval'], '.1f')}")
                print(f"  seed {seed} {lib:10s}: solved at {_fmt(r['solved_steps'], 'd')} steps / "
                      f"{_fmt(r['solved_seconds'], '.1f')} s, {r['throughput']:7.0f} steps/s over {r['steps']} steps, "
                      f"train {r['train_seconds']:5.1f} s, total {r['total_seconds']:5.1f} s, {tail}", flush=True)
    finally:
        if pjx is not None:
            pjx.close()

    print()
    header = (f"{'library':12s} {'solved':>7s} {'steps to solve':>15s} {'s to solve':>11s} "
              f"{'train steps/s':>14s} {'total s':>8s} {'final eval':>11s}")
    print(header)
    summary = {}
    for lib in libs:
        rs = [r for r in runs if r["lib"] == lib]
        solved = [r for r in rs if r["solved_steps"] is not None]
        s = {
            "solved": f"{len(solved)}/{len(rs)}" if lib != "purejaxrl" else "-",
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

    def per_seed(peer: str) -> list[float]:
        mine = {r["seed"]: r["throughput"] for r in runs if r["lib"] == "course_lib"}
        return [mine[r["seed"]] / r["throughput"] for r in runs if r["lib"] == peer]

    a = summary["course_lib"]
    ratios, per_seed_ratio = {}, {}
    if "sb3" in libs:
        b = summary["sb3"]
        ratios = {
            "throughput": a["throughput"] / b["throughput"],
            "seconds_to_solve": (b["seconds_to_solve"] / a["seconds_to_solve"]
                                 if a["seconds_to_solve"] and b["seconds_to_solve"] else None),
            "total_seconds": b["total_seconds"] / a["total_seconds"],
        }
        per_seed_ratio["sb3"] = per_seed("sb3")
        print(f"ratios course_lib/SB3 (means over seeds): training throughput {ratios['throughput']:.2f}x "
              f"(per seed {', '.join(f'{x:.2f}x' for x in per_seed_ratio['sb3'])}), "
              f"time to solve {_fmt(ratios['seconds_to_solve'], '.2f')}x faster, "
              f"total wall-clock {ratios['total_seconds']:.2f}x faster")
    if "purejaxrl" in libs:
        c = summary["purejaxrl"]
        compile_s = pjx.ready["compile_seconds"]
        per_seed_ratio["purejaxrl"] = per_seed("purejaxrl")
        # end to end: one training run as a learner starts it, PureJaxRL's compile counted (course_lib has none)
        e2e = {lib: statistics.mean(r["steps"] / (r["train_seconds"] + (compile_s if lib == "purejaxrl" else 0.0))
                                    for r in runs if r["lib"] == lib) for lib in ("course_lib", "purejaxrl")}
        ratios["purejaxrl_throughput"] = a["throughput"] / c["throughput"]
        ratios["purejaxrl_end_to_end"] = e2e["course_lib"] / e2e["purejaxrl"]
        print(f"ratio course_lib/PureJaxRL training throughput (compile not counted): "
              f"{ratios['purejaxrl_throughput']:.2f}x (per seed {', '.join(f'{x:.2f}x' for x in per_seed_ratio['purejaxrl'])}); "
              f"PureJaxRL compile {compile_s:.1f} s; end to end, one run with its compile: "
              f"{e2e['course_lib']:.0f} vs {e2e['purejaxrl']:.0f} steps/s = {ratios['purejaxrl_end_to_end']:.2f}x")
    share = {lib: statistics.mean(r["update_seconds"] / r["train_seconds"] for r in runs if r["lib"] == lib)
             for lib in libs if lib != "purejaxrl"}
    upd = {lib: statistics.mean(r["update_seconds"] for r in runs if r["lib"] == lib) for lib in share}
    col = {lib: statistics.mean(r["train_seconds"] - r["update_seconds"] for r in runs if r["lib"] == lib)
           for lib in share}
    print("where the training time goes (means): " + "; ".join(
        f"{lib} {upd[lib]:.1f} s updating + {col[lib]:.1f} s collecting ({share[lib]:.0%} updates)" for lib in share)
        + f"; bench wall-clock {time.perf_counter() - started:.0f} s")
    all_solved = all(r["solved_steps"] is not None for r in runs if r["lib"] == "course_lib")
    if "sb3" in libs:
        target = all_solved and min(per_seed_ratio["sb3"]) >= 2.0
        print(f"target (every course_lib seed solves, throughput >= 2x SB3 on every seed): {'met' if target else 'NOT met'}")
    if "purejaxrl" in libs:
        target = all_solved and min(per_seed_ratio["purejaxrl"]) >= 1.0
        print(f"target (every course_lib seed solves, throughput >= PureJaxRL's on every seed): "
              f"{'met' if target else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "summary": summary, "ratios": ratios, "per_seed_throughput_ratio": per_seed_ratio,
                       "machine": _cpu_name(), "peer": pjx.ready if pjx else None}, f, indent=1)
    return 0


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (OSError, AttributeError):
        return "unknown"


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
