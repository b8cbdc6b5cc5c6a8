"""Healthy and broken runs for the run doctor (notebook 11, docs/run-doctor.md, tests/test_diagnose.py).

Each recipe trains one small run with the course's own trainers and returns its ``History``. The
healthy ones are the defaults of notebooks 04, 07 and 08 at small budgets; each broken one plants
exactly one fault:

    ppo                               PPOConfig() on CartPole-v1 (notebook 04)
    ppo_lr_x10                        learning rate ×10 (1e-2)
    ppo_unnormalised_advantages       normalize_advantages=False (raw GAE advantages, tens of units)
    ppo_truncation_as_termination     the env reports the 500-step time limit as a termination
    grpo                              GRPOConfig() from the SFT model (notebook 08), 32 prompts per step
    grpo_cold                         temperature 0.05: every group of 8 completions is the same answer
    grpo_lr_x10                       learning rate ×10 (5e-3)
    grpo_format_only                  a reward that pays only the format (``rewards.format_reward``)
    rlhf                              RLHFConfig() with the rule reward (notebook 07), 64 prompts per step
    rlhf_beta0_length_rm              β = 0 against notebook 07's length-biased reward model

``python -m course_lib bench diagnose --table`` runs them all over seeds and prints which finding
fires on which run, at which step (``course_lib.experiments.bench_diagnose``).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Callable

import numpy as np

from ..runs import History, RunOptions

PPO_STEPS = 50_000  # CartPole env steps: the default config solves it in about 30-50k
GRPO_STEPS = 40
GRPO_PROMPTS = 32
RLHF_STEPS = 30
RLHF_PROMPTS = 64


class TruncationAsTermination:
    """A vector env whose time-limit truncations are reported as terminations (the planted fault).

    Old gym's single ``done`` flag made this the default; a learner's GAE that treats ``done`` as the
    end of the return drops γ·V(s_{t+1}) at every time-limit cut (CleanRL issues #198, #457).
    """

    def __new__(cls, env_id: str = "CartPole-v1", n_envs: int = 8):
        import gymnasium as gym

        from ..ppo.train import make_vector_env

        class _Wrapper(gym.vector.VectorWrapper):
            def step(self, actions):
                obs, reward, terminated, truncated, info = self.env.step(actions)
                return obs, reward, terminated | truncated, np.zeros_like(truncated), info

        return _Wrapper(make_vector_env(env_id, n_envs))


def ppo_run(seed: int = 0, total_steps: int = PPO_STEPS, *, truncation_as_termination: bool = False,
            run: RunOptions | None = None, **changes) -> History:
    """PPO on CartPole-v1 with ``PPOConfig`` changed by ``changes`` (e.g. lr=1e-2)."""
    from ..ppo import ActorCritic, PPOConfig, train_ppo

    cfg = PPOConfig(total_steps=total_steps, seed=seed, **changes)
    env = TruncationAsTermination("CartPole-v1", cfg.n_envs) if truncation_as_termination else "CartPole-v1"
    run = RunOptions() if run is None else run
    hist = train_ppo(ActorCritic.for_env(env, cfg), env, cfg, run=run)
    hist["config"] = {"trainer": "ppo", **dataclasses.asdict(cfg)}
    return hist


_SFT = {}


def sft_model():
    """The shipped SFT policy (loaded once; callers train copies)."""
    from ..lm import load_shipped

    if "model" not in _SFT:
        _SFT["model"], _SFT["tok"], _ = load_shipped("sft")
    return _SFT["model"], _SFT["tok"]


def grpo_run(seed: int = 0, steps: int = GRPO_STEPS, *, reward_fn: Callable | None = None,
             run: RunOptions | None = None, **changes) -> History:
    """GRPO from the SFT model with ``GRPOConfig`` changed by ``changes`` (32 prompts × 8 completions a step)."""
    from ..grpo import GRPOConfig
    from ..grpo.train import train_grpo
    from ..rewards import r1_reward

    model, tok = sft_model()
    settings = dict(steps=steps, prompts_per_step=GRPO_PROMPTS, eval_every=10, seed=seed)
    settings.update(changes)
    cfg = GRPOConfig(**settings)
    run = RunOptions() if run is None else run
    hist = train_grpo(copy.deepcopy(model), cfg, tokenizer=tok, reward_fn=reward_fn or r1_reward, run=run)
    hist["config"] = {"trainer": "grpo", **hist["config"]}
    return hist


def rlhf_run(seed: int = 0, steps: int = RLHF_STEPS, *, reward=None, run: RunOptions | None = None,
             **changes) -> History:
    """RLHF-PPO from the SFT model with ``RLHFConfig`` changed by ``changes`` (default reward: the rule reward)."""
    from ..rewards import r1_reward
    from ..rlhf import RLHFConfig, train_rlhf

    model, tok = sft_model()
    settings = dict(steps=steps, prompts_per_step=RLHF_PROMPTS, minibatch_size=RLHF_PROMPTS, eval_every=5,
                    seed=seed)
    settings.update(changes)
    cfg = RLHFConfig(**settings)
    run = RunOptions() if run is None else run
    hist = train_rlhf(copy.deepcopy(model), r1_reward if reward is None else reward, cfg, tokenizer=tok, run=run)
    hist["config"] = {"trainer": "rlhf", **hist["config"]}
    return hist


REWARD_NAMES = ("r1_reward", "accuracy_reward", "format_reward", "length_rm")  # reward_fn / reward by name


def _reward(name):
    """A reward named by a string (how broken runs and the exercise's fixes name them), or the object itself."""
    if not isinstance(name, str):
        return name
    if name not in REWARD_NAMES:
        raise ValueError(f"reward must be one of {REWARD_NAMES} (or a reward function), got {name!r}")
    if name == "length_rm":  # notebook 07's reward model of annotators with a strong length bias
        from .rlhf_sweep import load_strong_reward_model

        return load_strong_reward_model()[0]
    from .. import rewards

    return getattr(rewards, name)


def _ppo(seed, **settings):
    return ppo_run(seed, **settings)


def _grpo(seed, reward_fn="r1_reward", **settings):
    return grpo_run(seed, reward_fn=_reward(reward_fn), **settings)


def _rlhf(seed, reward="r1_reward", **settings):
    return rlhf_run(seed, reward=_reward(reward), **settings)


TRAINERS = {"ppo": _ppo, "grpo": _grpo, "rlhf": _rlhf}
# name: (trainer, the planted fault as settings, the fault in words)
RECIPES: dict[str, tuple[str, dict, str]] = {
    "ppo": ("ppo", {}, "none (PPOConfig defaults)"),
    "ppo_lr_x10": ("ppo", {"lr": 1e-2}, "lr 1e-3 -> 1e-2"),
    "ppo_unnormalised_advantages": ("ppo", {"normalize_advantages": False}, "normalize_advantages=False"),
    "ppo_truncation_as_termination": ("ppo", {"truncation_as_termination": True},
                                      "time-limit truncation reported as termination"),
    "grpo": ("grpo", {}, "none (GRPOConfig defaults)"),
    "grpo_cold": ("grpo", {"temperature": 0.05}, "temperature 0.7 -> 0.05"),
    "grpo_lr_x10": ("grpo", {"lr": 5e-3}, "lr 5e-4 -> 5e-3"),
    "grpo_format_only": ("grpo", {"reward_fn": "format_reward"}, "reward pays only the format"),
    "rlhf": ("rlhf", {}, "none (RLHFConfig defaults, rule reward)"),
    "rlhf_beta0_length_rm": ("rlhf", {"reward": "length_rm", "beta": 0.0},
                             "beta 0.02 -> 0 against the length-biased reward model"),
}
HEALTHY = ("ppo", "grpo", "rlhf")
BROKEN = tuple(k for k in RECIPES if k not in HEALTHY)


def train(name: str, seed: int = 0, **overrides) -> History:
    """Train the recipe ``name`` (one of ``RECIPES``) with this seed and return its History.

    ``overrides`` change its settings: the budget (``total_steps``, ``steps``), ``run`` (RunOptions),
    or a fix, e.g. ``train("grpo_cold", temperature=0.7)``; rewards are named by strings
    (``REWARD_NAMES``).
    """
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}, got {name!r}")
    trainer, settings, _ = RECIPES[name]
    return TRAINERS[trainer](seed, **{**settings, **overrides})
