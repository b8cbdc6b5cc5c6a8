"""train_ppo and evaluate: PPO on gymnasium vector environments (notebook 04).

``train_ppo(policy, env, cfg, *, run=None) -> History`` trains the caller's network in place, as every
trainer of the course does (``course_lib.runs``); ``ActorCritic.for_env(env, cfg)`` builds it.
One loop, three stages per iteration:

    1. collect   n_steps steps in n_envs environments with the current policy
    2. advantages  V of every observation in one batch, then GAE (``course_lib.ppo.math.gae``)
    3. update    n_epochs passes of minibatch Adam steps on ``ppo.losses.ppo_loss`` (clipped surrogate
                 + value loss − entropy bonus), by default through its hand-derived gradient (``ppo.fast``)

gymnasium 1.x vector environments reset an environment on the step *after* its episode ended
("next-step autoreset"): that call ignores the action and returns the first observation of the
new episode with reward 0. Such a step carries no learning signal, so it is masked out of the
loss. The upside: the observation returned at the last step of an episode is the true final
observation, so V(s_{t+1}) of a truncated episode is simply the value of the next row.
"""
from __future__ import annotations

import time
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from ..core import get_device
from ..runs import History, RunOptions, threads
from .cartpole import CartPoleVec
from .config import PPOConfig
from .fast import FlatAdam, PPOGradient, clip_grad_norm, flatten_parameters, forward, logits_and_values
from .losses import outside_clip_fraction, ppo_loss, standardize_advantages
from .math import approx_kl, entropy, explained_variance, gae
from .policy import ActorCritic, env_sizes

SOLVED_RETURN = 475.0  # CartPole-v1's reward threshold


def make_vector_env(env_id: str, n_envs: int) -> VectorEnv:
    """A gymnasium vector env: the env's own batched version if it has one, else SyncVectorEnv.

    CartPole-v1 has one (``CartPoleVectorEnv``, NumPy arrays over all envs at once); the course
    steps it through ``ppo.cartpole.CartPoleVec``, the same class with a leaner step, whose
    trajectories equal gymnasium's bit for bit and CartPole-v1's dynamics step by step
    (``tests/test_ppo.py`` checks both).
    """
    if not isinstance(env_id, str):
        raise ValueError(f"env_id must be a gymnasium id string, got {type(env_id).__name__}")
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        raise ValueError(f"env_id {env_id!r} is not a registered gymnasium environment ({exc})") from None
    if env_id == "CartPole-v1":
        venv = CartPoleVec(n_envs)
        venv.spec = spec
        return venv
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=n_envs, vectorization_mode=mode)


def _check_env(env: VectorEnv) -> None:
    if not isinstance(env, VectorEnv):
        raise ValueError(f"env must be a gymnasium id or a gymnasium.vector.VectorEnv, got {type(env).__name__}")
    env_sizes(env)  # flat Box observations, Discrete actions
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode != AutoresetMode.NEXT_STEP and str(mode) != "next_step":
        raise ValueError(f"the vector env must use next-step autoreset (gymnasium's default), got {mode}")


def _check_policy(policy: ActorCritic, venv: VectorEnv, cfg: PPOConfig) -> None:
    obs_dim, n_actions = env_sizes(venv)
    if (policy.obs_dim, policy.n_actions) != (obs_dim, n_actions):
        raise ValueError(f"policy has {policy.obs_dim} inputs and {policy.n_actions} actions, the env {obs_dim} "
                         f"and {n_actions}: build it with ActorCritic.for_env(env, cfg)")
    if policy.hidden != cfg.hidden:
        raise ValueError(f"policy has hidden layers {policy.hidden}, cfg.hidden is {cfg.hidden}: build the policy "
                         "with ActorCritic.for_env(env, cfg), or set cfg.hidden to the policy's")


def steps_to_solve(history: dict, threshold: float = SOLVED_RETURN) -> tuple[int, float] | None:
    """(env steps, training seconds) at the second of two evaluations in a row >= threshold."""
    rets, steps, secs = history["eval_returns"], history["eval_steps"], history["eval_seconds"]
    for i in range(1, len(rets)):
        if rets[i - 1] >= threshold and rets[i] >= threshold:
            return int(steps[i]), float(secs[i])
    return None


UPDATE_SERIES = ("env_steps", "train_seconds", "lr", "clip_eps", "policy_loss", "value_loss", "entropy",
                 "approx_kl", "clip_fraction", "explained_variance")


def _new_history(cfg: PPOConfig) -> History:
    return History(updates=UPDATE_SERIES,
                   episodes=("episode_steps", "episode_seconds", "episode_returns", "episode_lengths",
                             "episode_terminated"),
                   evals=("eval_steps", "eval_seconds", "eval_returns"),
                   seed=cfg.seed, total_seconds=0.0, update_seconds=0.0)


def train_ppo(policy: ActorCritic, env: str | VectorEnv, cfg: PPOConfig | None = None, *,
              run: RunOptions | None = None) -> History:
    """Train a PPO actor-critic in place.

        policy = ActorCritic.for_env("CartPole-v1", cfg)
        history = train_ppo(policy, "CartPole-v1", cfg)

    Args:
        policy: the network to train (``ActorCritic.for_env(env, cfg)``: sizes from the env's spaces
            and ``cfg.hidden``, initial weights from ``cfg.seed``); its weights change in place and it
            is moved to ``cfg.device``.
        env: a gymnasium id (e.g. "CartPole-v1"; ``cfg.n_envs`` copies are made) or a gymnasium
            vector env with Discrete actions and next-step autoreset (gymnasium's default).
        cfg: the hyperparameters (default ``PPOConfig()``, the rl-zoo CartPole settings). ``cfg.seed``
            seeds the environments, the action sampling and the minibatch order.
        run: the run contract's options (``course_lib.runs.RunOptions``): its threads replace
            ``cfg.torch_threads`` when given (without ``run``, ``cfg.torch_threads`` applies),
            progress shows a bar, eval_every (env steps) overrides the config's, training stops
            after the update that exceeds ``max_seconds``, and ``log`` receives each update's record.

    The caller's global generators (Python's, NumPy's, torch's) are neither read nor changed.

    Returns:
        The run's ``History``: lists, one entry per update: env_steps,
        train_seconds (wall-clock, evaluation excluded), lr, clip_eps, policy_loss, value_loss,
        entropy, approx_kl and clip_fraction (of the updated policy against the rollout's
        policy, on the rollout), explained_variance; one per finished episode: episode_steps,
        episode_seconds, episode_returns, episode_lengths, episode_terminated (False where a time
        limit truncated the episode: the run doctor checks that those are bootstrapped); one per evaluation: eval_steps,
        eval_seconds, eval_returns; total_seconds (wall-clock including evaluation) and
        update_seconds (the part of training spent in stage 3).
    """
    if not isinstance(policy, ActorCritic):
        raise ValueError("policy must be an ActorCritic, built by ActorCritic.for_env(env, cfg) and passed first: "
                         f"train_ppo(policy, env, cfg); got {type(policy).__name__}")
    cfg = PPOConfig() if cfg is None else cfg
    if not isinstance(cfg, PPOConfig):
        raise ValueError(f"cfg must be a PPOConfig, got {type(cfg).__name__}")
    run = RunOptions(threads=cfg.torch_threads) if run is None else RunOptions.check(run)
    cfg = run.configure(cfg)
    env_id = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", None)
    venv = make_vector_env(env, cfg.n_envs) if isinstance(env, str) else env
    try:
        _check_env(venv)
        _check_policy(policy, venv, cfg)
        if cfg.eval_every and env_id is None:
            raise ValueError("eval_every > 0 needs an env id to evaluate on; pass the id or a vector env with a spec")
        with threads(run.threads):
            return _train(policy, venv, env_id, cfg, run)
    finally:
        if isinstance(env, str):
            venv.close()


def _train(policy: ActorCritic, venv: VectorEnv, env_id: str | None, cfg: PPOConfig, run: RunOptions) -> History:
    wall_start = time.perf_counter()
    device = get_device(cfg.device)
    rng = np.random.default_rng(cfg.seed)  # action sampling
    shuffle = torch.Generator().manual_seed(cfg.seed)  # minibatch order
    N, T = venv.num_envs, cfg.n_steps
    obs_dim = policy.obs_dim
    policy.to(device)  # in place: the caller's module
    # All parameters live in one flat buffer (and their gradients in another), so clipping
    # the gradient norm is one norm and Adam a few operations (see course_lib.ppo.fast).
    flat_param, flat_grad = flatten_parameters(policy)
    optimizer = FlatAdam(flat_param, lr=cfg.lr, eps=cfg.adam_eps)
    # The hand-derived gradient (NumPy, course_lib.ppo.fast) on the CPU; autograd elsewhere.
    manual = cfg.manual_grad and device.type == "cpu"
    ppo_grad = PPOGradient(policy, min(cfg.minibatch_size, N * T)) if manual else None
    grad_buf = flat_grad.numpy() if manual else flat_grad  # what clipping and Adam read (the same memory)
    history = _new_history(cfg)

    # Rollout buffers, allocated once. obs_buf has T+1 rows: row T is the observation after
    # the last step, so V(s_{t+1}) of step t is always V(obs_buf[t+1]).
    obs_buf = np.zeros((T + 1, N, obs_dim), dtype=np.float32)
    act_buf = np.zeros((T, N), dtype=np.int64)
    rew_buf = np.zeros((T, N), dtype=np.float32)
    term_buf = np.zeros((T, N), dtype=bool)
    trunc_buf = np.zeros((T, N), dtype=bool)
    valid_buf = np.zeros((T, N), dtype=bool)

    obs, _ = venv.reset(seed=cfg.seed)
    venv.action_space.seed(cfg.seed)
    prev_done = np.zeros(N, dtype=bool)  # True where the env's next step is an autoreset step
    ep_return = np.zeros(N)
    ep_length = np.zeros(N, dtype=np.int64)
    env_steps, train_seconds, next_eval, good_evals = 0, 0.0, cfg.eval_every, 0
    n_updates = -(-cfg.total_steps // (N * T))
    bar = None
    if run.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_updates * N * T, unit="step", desc="PPO")

    for update in range(n_updates):
        clock = time.perf_counter()

        # 1. collect: NumPy forward passes only, no autograd and no torch per step.
        policy.sync_numpy()
        for t in range(T):
            obs_buf[t] = obs
            valid = np.logical_not(prev_done, out=valid_buf[t])  # an autoreset step is not a transition of the MDP
            action = policy.act_numpy(obs, rng)
            obs, reward, terminated, truncated, _ = venv.step(action)
            act_buf[t], rew_buf[t], term_buf[t], trunc_buf[t] = action, reward, terminated, truncated
            ep_return += reward
            ep_length += valid
            prev_done = terminated | truncated
            if prev_done.any():
                for i in np.flatnonzero(prev_done):
                    history["episode_steps"].append(env_steps + (t + 1) * N)
                    history["episode_seconds"].append(train_seconds + time.perf_counter() - clock)
                    history["episode_returns"].append(float(ep_return[i]))
                    history["episode_lengths"].append(int(ep_length[i]))
                    history["episode_terminated"].append(bool(terminated[i]))  # False: cut by the time limit
                ep_return[prev_done] = 0.0
                ep_length[prev_done] = 0
        obs_buf[T] = obs
        env_steps += N * T
        # Linear schedules: the fraction of training left after this rollout, 1 → 0 (as SB3's).
        frac = max(0.0, 1.0 - env_steps / cfg.total_steps)
        lr = cfg.lr * frac if cfg.anneal_lr else cfg.lr
        eps = cfg.clip_eps * frac if cfg.anneal_clip else cfg.clip_eps
        optimizer.lr = lr

        # 2. advantages: V(s) of all T+1 rows and log π_old(a|s) in one batched forward pass.
        with torch.no_grad():
            all_obs = torch.from_numpy(obs_buf).to(device).reshape((T + 1) * N, obs_dim)
            logits, values = logits_and_values(policy, all_obs)  # = policy(all_obs), minus autograd
            values = values.reshape(T + 1, N).cpu().numpy()
            logp_all = torch.log_softmax(logits[: T * N], dim=-1)
        adv, returns = gae(rew_buf, values[:T], values[1:], term_buf, trunc_buf, cfg.gamma, cfg.lam)

        # Keep the real transitions only (drop the autoreset steps), flattened.
        keep = np.flatnonzero(valid_buf.reshape(-1))
        keep_t = torch.from_numpy(keep).to(device)
        b_obs = all_obs[keep_t]
        b_act = torch.from_numpy(act_buf.reshape(-1)[keep]).to(device)
        b_logp_old = logp_all[keep_t].gather(1, b_act[:, None]).squeeze(1)
        n = len(keep)
        if n == 0:  # only autoreset steps (possible with n_steps = 1): nothing to learn from
            train_seconds += time.perf_counter() - clock
            continue

        # 3. update: n_epochs passes over the rollout in minibatches, minimising ppo.losses.ppo_loss.
        update_clock = time.perf_counter()
        one_batch = cfg.minibatch_size >= n
        # The hand-derived gradient works on NumPy views of the same minibatch (no copies per step).
        b_adv, b_ret = (x.reshape(-1)[keep].astype(np.float32) for x in (adv, returns))
        batch = ((b_obs.numpy(), act_buf.reshape(-1)[keep], b_logp_old.numpy(), b_adv, b_ret) if manual else
                 (b_obs, b_act, b_logp_old, *(torch.from_numpy(x).to(device) for x in (b_adv, b_ret))))
        if one_batch and cfg.normalize_advantages:  # the same for every epoch: standardised once
            batch = (*batch[:3], standardize_advantages(batch[3]), batch[4])
        for epoch in range(cfg.n_epochs):
            order = None if one_batch else torch.randperm(n, generator=shuffle)
            for mb in [None] if one_batch else order.split(cfg.minibatch_size):
                if mb is None:
                    o, a, lp_old, ad, ret = batch
                else:
                    mb = mb.numpy() if manual else mb.to(device)
                    o, a, lp_old, ad, ret = (x[mb] for x in batch)
                    if cfg.normalize_advantages:
                        ad = standardize_advantages(ad)
                if manual:  # the gradient of ppo_loss, derived by hand (course_lib.ppo.fast)
                    pg_loss, v_loss = ppo_grad(o, a, lp_old, ad, ret, eps, cfg.vf_coef, cfg.ent_coef,
                                               losses=epoch == cfg.n_epochs - 1)  # only the last is recorded
                else:
                    logits, v = policy(o)
                    logp = torch.log_softmax(logits, dim=-1).gather(1, a[:, None]).squeeze(1)
                    loss, mb_stats = ppo_loss(logp, lp_old, ad, v, ret, eps, cfg.vf_coef, ent_coef=cfg.ent_coef,
                                              logits=logits, normalize_advantages=False)  # ad: standardised above
                    pg_loss, v_loss = mb_stats["policy_loss"], mb_stats["value_loss"]
                    flat_grad.zero_()
                    loss.backward()
                if cfg.max_grad_norm:
                    clip_grad_norm(grad_buf, cfg.max_grad_norm)
                optimizer.step(grad_buf)

        history["update_seconds"] += time.perf_counter() - update_clock

        # Diagnostics of the updated policy against the rollout's policy, on the rollout.
        with torch.no_grad():
            logits_new = forward(policy.linear_layers()[0], b_obs)[-1]  # the policy net only
            logp_new = torch.log_softmax(logits_new, dim=-1).gather(1, b_act[:, None]).squeeze(1)
            ratio_new = torch.exp(logp_new - b_logp_old)
            stats = torch.stack([approx_kl(logp_new, b_logp_old), outside_clip_fraction(ratio_new, eps),
                                 entropy(logits_new).mean()]).tolist() + [float(pg_loss), float(v_loss)]
        train_seconds += time.perf_counter() - clock
        rec = dict(zip(("approx_kl", "clip_fraction", "entropy", "policy_loss", "value_loss"), stats))
        v_flat = values[:T].reshape(-1)[keep]
        rec.update(env_steps=env_steps, train_seconds=train_seconds, lr=lr, clip_eps=eps,
                   explained_variance=explained_variance(v_flat, returns.reshape(-1)[keep]))
        history.record("updates", rec)
        if run.log is not None:
            run.log(rec)
        if bar is not None:
            recent = history["episode_returns"][-20:]
            bar.set_postfix(ret=f"{np.mean(recent):.0f}" if recent else "-", refresh=False)
            bar.update(N * T)

        # Evaluation (not counted as training time).
        if cfg.eval_every and env_steps >= next_eval:
            while next_eval <= env_steps:
                next_eval += cfg.eval_every
            mean_ret = float(np.mean(evaluate(policy, env_id, cfg.eval_episodes, seed=cfg.seed + 10_000 + update)))
            history["eval_steps"].append(env_steps)
            history["eval_seconds"].append(train_seconds)
            history["eval_returns"].append(mean_ret)
            good_evals = good_evals + 1 if cfg.stop_return is not None and mean_ret >= cfg.stop_return else 0
            if good_evals >= 2:
                break
        if run.out_of_time(train_seconds):
            break
    if bar is not None:
        bar.close()
    history["total_seconds"] = time.perf_counter() - wall_start
    return history


def evaluate(policy: ActorCritic | Callable[[np.ndarray], np.ndarray], env_id: str, n_episodes: int = 10,
             deterministic: bool = True, seed: int = 0) -> np.ndarray:
    """Play ``n_episodes`` episodes side by side (one vector env of that many copies).

    Args:
        policy: an ActorCritic, or any function mapping a batch of observations (N, obs_dim)
            to a batch of actions (N,), e.g. a Stable-Baselines3 model's ``predict``.
        env_id: a gymnasium id.
        n_episodes: how many episodes (and parallel environments).
        deterministic: greedy actions (argmax of the logits) instead of sampled ones.
        seed: seeds the environments (and the sampling).

    Returns:
        The return of each episode, shape (n_episodes,).
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    if isinstance(policy, ActorCritic):
        rng = np.random.default_rng(seed)
        act = lambda o: policy.act_numpy(o, rng, deterministic=deterministic)  # noqa: E731
        policy.sync_numpy()
    elif callable(policy):
        act = policy
    else:
        raise ValueError(f"policy must be an ActorCritic or a function of observations, got {type(policy).__name__}")
    venv = make_vector_env(env_id, int(n_episodes))
    try:
        obs, _ = venv.reset(seed=seed)
        returns = np.zeros(n_episodes)
        running = np.ones(n_episodes, dtype=bool)  # still in its first episode
        while running.any():
            obs, reward, terminated, truncated, _ = venv.step(np.asarray(act(obs)))
            returns += reward * running
            running &= ~(terminated | truncated)
    finally:
        venv.close()
    return returns
