"""Stable-Baselines3 PPO with the same hyperparameters as a ``PPOConfig`` (notebook 04, bench).

``train_sb3`` returns a history with the same keys as ``train_ppo``'s (env_steps,
train_seconds, episode_*, eval_*), so the two can be plotted side by side, and evaluates with
the same ``evaluate`` function (greedy actions, episodes side by side). SB3 steps its own
vector env (``DummyVecEnv`` of ``Monitor``-wrapped gymnasium envs), as it always does.
"""
from __future__ import annotations

import time

import numpy as np

from ..ppo.config import PPOConfig
from ..ppo.train import evaluate
from ..runs import History, RunOptions, threads


def _linear(start: float):
    # SB3 calls schedules with progress_remaining, going 1 -> 0 over training.
    return lambda progress_remaining: progress_remaining * start


def sb3_kwargs(cfg: PPOConfig) -> dict:
    """The keyword arguments of ``stable_baselines3.PPO`` that match ``cfg``."""
    from torch import nn

    return dict(
        n_steps=cfg.n_steps, batch_size=cfg.minibatch_size, n_epochs=cfg.n_epochs, gamma=cfg.gamma,
        gae_lambda=cfg.lam, learning_rate=_linear(cfg.lr) if cfg.anneal_lr else cfg.lr,
        clip_range=_linear(cfg.clip_eps) if cfg.anneal_clip else cfg.clip_eps, ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm if cfg.max_grad_norm else float("inf"),
        normalize_advantage=cfg.normalize_advantages, seed=cfg.seed,
        policy_kwargs=dict(net_arch=dict(pi=list(cfg.hidden), vf=list(cfg.hidden)), activation_fn=nn.Tanh,
                           optimizer_kwargs=dict(eps=cfg.adam_eps)),
    )


def train_sb3(env_id: str, cfg: PPOConfig | None = None, *, run: RunOptions | None = None):
    """Train Stable-Baselines3 PPO on ``env_id`` with ``cfg``'s hyperparameters.

    ``run`` (``course_lib.runs.RunOptions``): its threads replace ``cfg.torch_threads`` and its
    eval_every overrides the config's (SB3 has its own progress bar and loop, so
    progress, max_seconds and log are not used here).

    Returns:
        (model, history) with history keys as in ``train_ppo`` (per-update loss statistics
        are not recorded; SB3 logs those itself) plus ``update_seconds``, the time spent in
        SB3's gradient updates.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    cfg = PPOConfig() if cfg is None else cfg
    if not isinstance(cfg, PPOConfig):
        raise ValueError(f"cfg must be a PPOConfig, got {type(cfg).__name__}")
    if run is None:
        run = RunOptions(threads=cfg.torch_threads)
    elif not isinstance(run, RunOptions):
        raise ValueError(f"run must be a RunOptions or None, got {type(run).__name__}")
    cfg = run.configure(cfg)
    history = History(updates=("env_steps", "train_seconds"),
                      episodes=("episode_steps", "episode_seconds", "episode_returns", "episode_lengths"),
                      evals=("eval_steps", "eval_seconds", "eval_returns"),
                      seed=cfg.seed, total_seconds=0.0, update_seconds=0.0)
    wall_start = time.perf_counter()
    excluded = [0.0]  # seconds spent evaluating

    class _Timed(PPO):
        def train(self) -> None:  # the gradient updates, timed for the breakdown
            t = time.perf_counter()
            super().train()
            history["update_seconds"] += time.perf_counter() - t

    class _Recorder(BaseCallback):
        def __init__(self):
            super().__init__()
            self.start = 0.0
            self.next_eval = cfg.eval_every
            self.good = 0

        def _train_seconds(self) -> float:
            return time.perf_counter() - self.start - excluded[0]

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                ep = info.get("episode")
                if ep is not None:
                    history["episode_steps"].append(self.num_timesteps)
                    history["episode_seconds"].append(self._train_seconds())
                    history["episode_returns"].append(float(ep["r"]))
                    history["episode_lengths"].append(int(ep["l"]))
            return True

        def _on_rollout_start(self) -> None:
            # Called after each update (and once before the first rollout).
            if self.num_timesteps == 0:
                return
            history["env_steps"].append(self.num_timesteps)
            history["train_seconds"].append(self._train_seconds())
            if cfg.eval_every and self.num_timesteps >= self.next_eval:
                self._evaluate()

        def _evaluate(self) -> None:
            while self.next_eval <= self.num_timesteps:
                self.next_eval += cfg.eval_every
            seconds = self._train_seconds()
            t = time.perf_counter()
            k = len(history["eval_steps"])
            rets = evaluate(lambda o: self.model.predict(o, deterministic=True)[0], env_id,
                            cfg.eval_episodes, seed=cfg.seed + 10_000 + k)
            history["eval_steps"].append(self.num_timesteps)
            history["eval_seconds"].append(seconds)
            history["eval_returns"].append(float(np.mean(rets)))
            excluded[0] += time.perf_counter() - t
            self.good = self.good + 1 if cfg.stop_return is not None and np.mean(rets) >= cfg.stop_return else 0

    with threads(run.threads):
        env = make_vec_env(env_id, n_envs=cfg.n_envs, seed=cfg.seed)
        model = _Timed("MlpPolicy", env, verbose=0, device=cfg.device or "auto", **sb3_kwargs(cfg))
        recorder = _Recorder()
        _StopCheck = _stopper(recorder, cfg)
        model.learn(total_timesteps=cfg.total_steps, callback=[recorder, _StopCheck])
        # The last update happens after the last rollout_start: record it and evaluate.
        if not history["env_steps"] or history["env_steps"][-1] != recorder.num_timesteps:
            history["env_steps"].append(recorder.num_timesteps)
            history["train_seconds"].append(recorder._train_seconds())
            if cfg.eval_every and recorder.good < 2:
                recorder._evaluate()
        env.close()
    history["total_seconds"] = time.perf_counter() - wall_start
    return model, history


def _stopper(recorder, cfg: PPOConfig):
    """A callback that ends SB3's training once two evaluations in a row reach stop_return."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Stop(BaseCallback):
        def _on_step(self) -> bool:
            return recorder.good < 2

    return _Stop()
