"""PureJaxRL's PPO on CartPole-v1 with the rl-zoo settings, timed: the peer of ``bench ppo``.

PureJaxRL (Lu et al. 2022, "Discovered Policy Optimisation", arXiv 2210.04745) compiles a whole PPO
run (gymnax's CartPole in JAX, collection and updates) into one XLA program. It is not a dependency
of the course and none of its code is in this repository: this script imports ``make_train`` from a
checkout given at run time, runs it with the same settings as ``PPOConfig()`` and prints JSON
lines. It needs only JAX and PureJaxRL's own requirements (flax, optax, distrax, gymnax), so it runs
in their environment, not the course's (it imports nothing from course_lib):

    /path/to/jax-venv/bin/python course_lib/experiments/purejaxrl_peer.py --purejaxrl /path/to/purejaxrl --seed 0

prints a line when compiled, then one line per seed (its training seconds, compile excluded).

``python -m course_lib bench ppo --peer-python /path/to/jax-venv/bin/python --purejaxrl /path/to/purejaxrl``
runs it alternately with course_lib's PPO (docs/performance-ppo.md says how it was measured).

Settings (PureJaxRL's config names): 8 envs x 32 steps, 1 minibatch, 20 epochs, gamma 0.98,
lambda 0.8, lr 1e-3 annealed linearly, clip 0.2, no entropy bonus, value weight 0.5, gradient norm
0.5, tanh 64-64 nets, Adam eps 1e-5 (fixed in PureJaxRL). What PureJaxRL does differently and keeps:
its clip range is not annealed, its value loss is clipped, and it does not evaluate during training.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def rl_zoo_config(total_steps: int) -> dict:
    """PureJaxRL's config dict with the rl-zoo CartPole-v1 settings (PPOConfig()'s defaults)."""
    return {"LR": 1e-3, "NUM_ENVS": 8, "NUM_STEPS": 32, "TOTAL_TIMESTEPS": total_steps, "UPDATE_EPOCHS": 20,
            "NUM_MINIBATCHES": 1, "GAMMA": 0.98, "GAE_LAMBDA": 0.8, "CLIP_EPS": 0.2, "ENT_COEF": 0.0,
            "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ENV_NAME": "CartPole-v1",
            "ANNEAL_LR": True, "DEBUG": False}


def _stand_in_unused_imports() -> None:
    """PureJaxRL's wrappers.py imports brax and navix at the top for its Brax and NAVIX wrappers;
    CartPole uses neither. Where they are not installed, empty modules stand in for them (the
    wrappers PPO uses on CartPole, LogWrapper and FlattenObservationWrapper, are gymnax-only)."""
    import importlib.util
    import types

    for name in ("brax", "navix"):
        if importlib.util.find_spec(name) is None:
            for mod in (name, "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training")[: 4 if name == "brax" else 1]:
                sys.modules[mod] = types.ModuleType(mod)
            if name == "brax":
                training = sys.modules["brax.envs.wrappers.training"]
                training.EpisodeWrapper = training.AutoResetWrapper = object
                sys.modules["brax"].envs = sys.modules["brax.envs"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--purejaxrl", required=True, help="a PureJaxRL checkout (the folder holding purejaxrl/ppo.py)")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None, help="run this seed and exit")
    parser.add_argument("--serve", action="store_true",
                        help="compile once, then run one seed per line read from stdin (what bench ppo uses)")
    args = parser.parse_args(argv)
    if (args.seed is None) == (not args.serve):
        parser.error("give --seed N or --serve")
    import os

    sys.path.insert(0, os.path.join(args.purejaxrl, "purejaxrl"))  # ppo.py imports its wrappers by bare name
    _stand_in_unused_imports()
    import jax
    import numpy as np
    from ppo import make_train  # PureJaxRL's own file

    config = rl_zoo_config(args.steps)
    start = time.perf_counter()
    # The seed is an argument of the compiled program: one compile serves every seed.
    train = jax.jit(make_train(config)).lower(jax.random.PRNGKey(0)).compile()
    compile_seconds = time.perf_counter() - start
    steps = config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"] * config["NUM_STEPS"] * config["NUM_ENVS"]
    print(json.dumps({"ready": True, "compile_seconds": compile_seconds, "jax": jax.__version__,
                      "backend": jax.default_backend()}), flush=True)
    seeds = [args.seed] if args.seed is not None else (int(line) for line in sys.stdin if line.strip())
    for seed in seeds:
        start, cpu = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(train(jax.random.PRNGKey(seed)))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        info = out["metrics"]
        rets = np.asarray(info["returned_episode_returns"])[np.asarray(info["returned_episode"])]
        print(json.dumps({"lib": "purejaxrl", "seed": seed, "steps": int(steps), "train_seconds": seconds,
                          "compile_seconds": compile_seconds, "throughput": steps / seconds,
                          "cpu_seconds": cpu,  # over train_seconds: how many cores it kept busy
                          "last_returns_mean": float(rets[-20:].mean()) if rets.size else None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
