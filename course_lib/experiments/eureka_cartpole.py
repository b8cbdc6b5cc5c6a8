"""An Eureka-style search over reward functions for CartPole (notebook 09), cached in data/pitfalls/.

    python -m course_lib sweep eureka        # recompute the cache (a few minutes on 2 idle cores)

Eureka (Ma et al. 2023, arXiv 2310.12931) lets a large language model write reward functions as
code, scores each by training a policy with it in simulation, and feeds the training statistics
back to write better ones ("reward reflection"); its rewards beat human-expert ones on 83% of 29
tasks, with 52% average normalised improvement. Here the proposer is a person plus a program:
hand-written seed candidates, then **mutations** of the best ones (their weights scaled or a
term dropped), chosen by the same measurement. Each candidate is a small Python function of the
step's observation ``(x, x_dot, theta, theta_dot)``, the environment's reward and ``terminated``;
it replaces CartPole's reward during training, and the course's PPO is trained with it for a
short budget. What counts is the **true** task return: every evaluation plays greedy episodes of
the unmodified CartPole-v1. A candidate whose shaped reward rises while the true return stays
low has been hacked.

One search is one seed; the seed candidates are also scored on ``SEED_RUNS`` (three training seeds),
so what the notebook calls a finding (a shaped reward that learns faster, a hacked one) rests on the
mean and spread over seeds. ``reference_returns`` measures what a policy that learns nothing gets (a
uniformly random one, and one that always pushes the same way), the yardstick for "hacked".
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Sequence

import gymnasium as gym
import numpy as np

from ..ppo.config import PPOConfig
from ..ppo.policy import ActorCritic
from ..ppo.train import make_vector_env, train_ppo

CACHE_FILE = "pitfalls/eureka_cartpole.json"
ENV_ID = "CartPole-v1"
SEED_RUNS = (0, 1, 2)  # training seeds on which every seed candidate is scored
THETA_LIMIT, X_LIMIT = 0.2095, 2.4  # CartPole ends an episode beyond 12 degrees or 2.4 from the centre


@dataclass(frozen=True)
class Candidate:
    """A reward function written as code: ``w_alive`` + ``w_upright`` · (1 − |θ|/θ_max) + ..."""

    name: str
    w_alive: float = 0.0  # the environment's own +1 per step
    w_upright: float = 0.0  # 1 − |θ| / θ_max: the pole near vertical
    w_centred: float = 0.0  # 1 − |x| / x_max: the cart near the centre
    w_fall: float = 0.0  # added on the step the episode terminates (a negative value is a penalty)
    w_swing: float = 0.0  # |θ̇|: the pole's angular speed (a tempting, wrong "activity" bonus)
    parent: str = ""  # the candidate this one was mutated from

    def source(self) -> str:
        """The candidate as the Python function it is (what an LLM proposer would write)."""
        terms = [(self.w_alive, "reward"), (self.w_upright, "(1 - abs(theta) / 0.2095)"),
                 (self.w_centred, "(1 - abs(x) / 2.4)"), (self.w_fall, "terminated"),
                 (self.w_swing, "abs(theta_dot)")]
        body = " + ".join(f"{w:g} * {t}" for w, t in terms if w) or "0.0"
        return (f"def {self.name}(obs, reward, terminated):\n"
                f"    x, x_dot, theta, theta_dot = obs\n"
                f"    return {body}")

    def __call__(self, obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        x, theta, theta_dot = obs[:, 0], obs[:, 2], obs[:, 3]
        return (self.w_alive * reward + self.w_upright * (1 - np.abs(theta) / THETA_LIMIT)
                + self.w_centred * (1 - np.abs(x) / X_LIMIT) + self.w_fall * terminated
                + self.w_swing * np.abs(theta_dot))


SEEDS = (
    Candidate("true_reward", w_alive=1.0),
    Candidate("upright", w_upright=1.0),
    Candidate("upright_centred", w_upright=1.0, w_centred=0.5),
    Candidate("alive_fall_penalty", w_alive=1.0, w_fall=-10.0),
    Candidate("swing_bonus", w_alive=0.1, w_swing=2.0),
)


class ShapedReward(gym.vector.VectorWrapper):
    """A vector env whose reward is ``candidate(obs, reward, terminated)``; everything else unchanged."""

    def __init__(self, env, candidate: Candidate):
        super().__init__(env)
        self.candidate = candidate

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        shaped = self.candidate(np.asarray(obs), np.asarray(reward, dtype=np.float64), np.asarray(terminated))
        return obs, shaped, terminated, truncated, info


def score(candidate: Candidate, steps: int = 30_000, seed: int = 0, eval_every: int = 5_000) -> dict:
    """Train the course's PPO on CartPole with ``candidate`` as the reward; the true return it reaches.

    Returns:
        {"name", "source", "parent", "eval_steps", "true_return" (greedy, unmodified CartPole),
         "shaped_return" (mean shaped return of the training episodes), "auc" (mean true return
         over the evaluations: how fast it learns), "final"}.
    """
    cfg = PPOConfig(total_steps=steps, eval_every=min(eval_every, steps), seed=seed)
    venv = ShapedReward(make_vector_env(ENV_ID, cfg.n_envs), candidate)
    try:
        hist = train_ppo(ActorCritic.for_env(venv, cfg), venv, cfg)
    finally:
        venv.close()
    true = [round(float(r), 1) for r in hist["eval_returns"]]
    shaped = hist["episode_returns"]
    return {"name": candidate.name, "source": candidate.source(), "parent": candidate.parent,
            "eval_steps": list(hist["eval_steps"]), "true_return": true,
            "shaped_return": round(float(np.mean(shaped[-50:])), 2) if shaped else 0.0,
            "auc": round(float(np.mean(true)), 1), "final": true[-1] if true else 0.0}


def mutate(parent: Candidate, rng: np.random.Generator, n: int = 2) -> list[Candidate]:
    """``n`` children of ``parent``: each non-zero weight scaled by a factor in [0.5, 2], or one term dropped."""
    weights = {k: getattr(parent, k) for k in ("w_alive", "w_upright", "w_centred", "w_fall", "w_swing")}
    children = []
    for i in range(n):
        w = dict(weights)
        active = [k for k, v in w.items() if v]
        if len(active) > 1 and rng.random() < 0.3:
            w[active[int(rng.integers(len(active)))]] = 0.0  # drop a term
        else:
            for k in active:
                w[k] = round(float(w[k] * rng.uniform(0.5, 2.0)), 3)
        children.append(Candidate(f"{parent.name}_m{i + 1}", parent=parent.name, **w))
    return children


def search(seeds: Sequence[Candidate] = SEEDS, rounds: int = 1, keep: int = 2, children: int = 2,
           steps: int = 30_000, seed: int = 0) -> dict:
    """Score the seed candidates, then ``rounds`` times mutate the ``keep`` best (by true-return AUC)."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    results = [score(c, steps, seed) for c in seeds]
    pool = list(seeds)
    for _ in range(rounds):
        ranked = sorted(zip(results[-len(pool):], pool), key=lambda rc: -rc[0]["auc"])[:keep]
        pool = [child for _, parent in ranked for child in mutate(parent, rng, children)]
        results += [score(c, steps, seed) for c in pool]
    return {"schema": "course_lib.eureka_cartpole/1", "env": ENV_ID, "steps": steps, "seed": seed,
            "results": results, "seconds": round(time.perf_counter() - start, 1)}


def reference_returns(episodes: int = 5000, seed: int = 0) -> dict:
    """Mean true return of two CartPole-v1 policies that learn nothing, each over ``episodes`` episodes.

    "random" draws each action uniformly (about 22 on gymnasium 1.4); "one_way" always pushes left
    (about 9.4: the pole falls fastest when nothing ever pushes back). Episode ``i`` starts from
    ``reset(seed=seed + i)``; the random actions come from ``numpy.random.default_rng(seed)``.

    Returns:
        {"episodes", "random": {"mean", "se"}, "one_way": {"mean", "se"}}; se is the standard error.
    """
    from ..core import check_nonnegative_int, check_positive_int

    episodes = check_positive_int("episodes", episodes)
    seed = check_nonnegative_int("seed", seed)
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(seed)
    out: dict = {"episodes": episodes}
    try:
        for policy in ("random", "one_way"):
            returns = []
            for i in range(episodes):
                env.reset(seed=seed + i)
                total, done = 0.0, False
                while not done:
                    action = int(rng.integers(2)) if policy == "random" else 0
                    _, r, terminated, truncated, _ = env.step(action)
                    total += float(r)
                    done = terminated or truncated
                returns.append(total)
            x = np.asarray(returns)
            out[policy] = {"mean": round(float(x.mean()), 2), "se": round(float(x.std(ddof=1) / np.sqrt(x.size)), 3)}
    finally:
        env.close()
    return out


def score_seeds(candidates: Sequence[Candidate] = SEEDS, seeds: Sequence[int] = SEED_RUNS, steps: int = 30_000,
                known: Sequence[dict] = (), known_seed: int = 0) -> dict:
    """Score each candidate on each training seed; ``known`` results of ``known_seed`` are reused, not retrained.

    Returns:
        {"seeds": [...], "scores": {name: {"auc": [one per seed], "final": [...], "shaped_return": [...]}}}
    """
    by_name = {r["name"]: r for r in known}
    scores: dict = {}
    for c in candidates:
        rows = [by_name[c.name] if s == known_seed and c.name in by_name else score(c, steps, s) for s in seeds]
        scores[c.name] = {k: [r[k] for r in rows] for k in ("auc", "final", "shaped_return")}
    return {"seeds": list(seeds), "scores": scores}


def load_cached() -> dict:
    """The cached search (``data/pitfalls/eureka_cartpole.json``), verified against the manifest."""
    from ..data import load_json

    return load_json(CACHE_FILE)


def main(argv: list[str] | None = None) -> int:
    """Rebuild data/pitfalls/eureka_cartpole.json."""
    from ..data import writable_dir

    parser = argparse.ArgumentParser(prog="python -m course_lib sweep eureka", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30_000, help="PPO env steps per candidate")
    args = parser.parse_args(argv)
    out = writable_dir("pitfalls") / "eureka_cartpole.json"
    start = time.perf_counter()
    result = search(steps=args.steps)
    result["over_seeds"] = score_seeds(steps=args.steps, known=result["results"], known_seed=result["seed"])
    result["reference"] = reference_returns()
    result["seconds"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out} in {result['seconds']:.0f} s; now run `python -m course_lib manifest --force`")
    return 0
