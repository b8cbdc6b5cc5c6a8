"""The clip sweep of notebook 04 and the recorded rollout of its λ slider, cached in data/ppo/.

    python -m course_lib sweep ppo          # recompute both files (about 3 minutes on 2 cores)

The sweep trains PPO on CartPole-v1 for each clip range ε (and "no clip", ε = 1e9) over
several seeds, with ε and the learning rate held constant so that what clipping does stays
visible to the end. Each run keeps, per update: env steps, the mean return of the episodes
that ended in that rollout, the clip fraction and the approximate KL of the update.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from ..data import writable_dir
from ..ppo.config import PPOConfig
from ..ppo.policy import ActorCritic
from ..ppo.train import train_ppo
from ..runs_cache import PPO_CLIP_SWEEP_FILE as SWEEP_FILE, PPO_ROLLOUT_FILE as ROLLOUT_FILE, cached, eps_label
from ..runs_cache import recorded_rollout, rounded as _r

SWEEP_EPS = (0.05, 0.1, 0.2, 0.3, 1e9)
SWEEP_SEEDS = (0, 1, 2)
NO_CLIP = 1e9  # "effectively unclipped": the ratio never reaches 1 ± 1e9


def sweep_config(eps: float, seed: int, total_steps: int = 60_000) -> PPOConfig:
    """The rl-zoo settings with constant ε and learning rate (no annealing hides instability)."""
    return PPOConfig(total_steps=total_steps, clip_eps=float(eps), anneal_clip=False, anneal_lr=False,
                     seed=seed, eval_every=10_000, eval_episodes=5)


def run_clip_sweep(eps_values=SWEEP_EPS, seeds=SWEEP_SEEDS, total_steps: int = 60_000,
                   progress: bool = False) -> dict:
    """Train one PPO run per (ε, seed) and keep the curves the notebook's slider shows."""
    if not eps_values or not seeds:
        raise ValueError("eps_values and seeds must be non-empty")
    runs = []
    started = time.perf_counter()
    for eps in eps_values:
        for seed in seeds:
            cfg = sweep_config(eps, seed, total_steps)
            h = train_ppo(ActorCritic.for_env("CartPole-v1", cfg), "CartPole-v1", cfg)
            ep_steps = np.asarray(h["episode_steps"])
            ep_rets = np.asarray(h["episode_returns"])
            mean_ret, lo = [], 0
            for hi in h["env_steps"]:  # mean return of the episodes that ended in each rollout
                sel = (ep_steps > lo) & (ep_steps <= hi)
                mean_ret.append(float(ep_rets[sel].mean()) if sel.any() else (mean_ret[-1] if mean_ret else 0.0))
                lo = hi
            runs.append({"eps": float(eps), "seed": int(seed), "env_steps": h["env_steps"],
                         "episode_return": _r(mean_ret), "clip_fraction": _r(h["clip_fraction"]),
                         "approx_kl": _r(h["approx_kl"]), "eval_steps": h["eval_steps"],
                         "eval_returns": _r(h["eval_returns"])})
            if progress:
                print(f"eps {eps_label(eps):>7s} seed {seed}: final eval {h['eval_returns'][-1]:.0f}, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    base = sweep_config(eps_values[0], seeds[0], total_steps)
    settings = {k: getattr(base, k) for k in ("total_steps", "n_envs", "n_steps", "minibatch_size", "n_epochs",
                                              "gamma", "lam", "lr", "anneal_lr", "anneal_clip")}
    return {"schema": "course_lib.ppo.clip_sweep/1", "eps": [float(e) for e in eps_values],
            "seeds": [int(s) for s in seeds], "settings": settings, "runs": runs}


def load_clip_sweep(recompute: bool = False, **kwargs) -> dict:
    """The cached sweep from data/ppo/, or a fresh one when ``recompute`` is true (kwargs go to
    ``run_clip_sweep``; the cache is not overwritten, see ``main`` for that)."""
    return cached(SWEEP_FILE, recompute, run_clip_sweep, **kwargs)


def record_rollout(steps: int = 400, train_steps: int = 12_000, seed: int = 7) -> dict:
    """One environment's rollout under a half-trained policy: rewards, V(s), V(s'), episode ends.

    The fixed example of the λ slider: the policy is trained for only ``train_steps`` so that
    episodes still end (terminations) and the critic is still imperfect.
    """
    import torch

    from ..ppo.fast import logits_and_values
    from ..ppo.train import make_vector_env

    cfg = PPOConfig(total_steps=train_steps, seed=seed)
    policy = ActorCritic.for_env("CartPole-v1", cfg)
    train_ppo(policy, "CartPole-v1", cfg)
    env = make_vector_env("CartPole-v1", 1)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = {"rewards": [], "values": [], "next_values": [], "terminated": [], "truncated": []}
    skip = False
    while len(rows["rewards"]) < steps:
        with torch.no_grad():
            v = float(logits_and_values(policy, torch.from_numpy(obs))[1][0])
        action = policy.act_numpy(obs, rng)
        nobs, r, term, trunc, _ = env.step(action)
        if not skip:  # drop the autoreset step, as training does
            with torch.no_grad():
                nv = float(logits_and_values(policy, torch.from_numpy(nobs))[1][0])
            for k, x in zip(rows, (float(r[0]), v, nv, bool(term[0]), bool(trunc[0]))):
                rows[k].append(x)
        skip = bool(term[0] or trunc[0])
        obs = nobs
    env.close()
    return {"schema": "course_lib.ppo.rollout/1", "gamma": 0.98, "train_steps": train_steps, "seed": seed,
            "rewards": rows["rewards"], "values": _r(rows["values"], 5), "next_values": _r(rows["next_values"], 5),
            "terminated": rows["terminated"], "truncated": rows["truncated"]}


def load_recorded_rollout() -> dict:
    """The shipped rollout of ``record_rollout`` (data/ppo/recorded_rollout.json)."""
    return recorded_rollout()


def main(argv: list[str] | None = None) -> int:
    """Rebuild data/ppo/clip_sweep.json and data/ppo/recorded_rollout.json."""
    out = writable_dir("ppo")  # a clear error on a read-only course folder
    (out / "recorded_rollout.json").write_text(json.dumps(record_rollout()) + "\n")
    sweep = run_clip_sweep(progress=True)
    (out / "clip_sweep.json").write_text(json.dumps(sweep, separators=(",", ":")) + "\n")
    print(f"wrote {out}; now run `python -m course_lib manifest --force` to approve the rebuilt files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
