"""Policy gradient: REINFORCE on CartPole with reward-to-go and an optional value baseline (notebook 03).

The policy-gradient theorem with reward-to-go (Williams 1992; Sutton et al. 2000):

    ∇J(θ) = E[ Σ_t ∇ log π_θ(a_t|s_t) · (Ĝ_t − b(s_t)) ],   Ĝ_t = Σ_{k≥t} γ^(k−t) r_k

Any baseline b(s_t) that does not depend on the action leaves the expectation unchanged and
can shrink the variance; the course learns b(s) ≈ V(s) by regression on Ĝ_t and measures the
variance of the per-episode gradient estimates with and without it.

The trainer has the run contract's shape (``course_lib.runs``): the caller builds the networks,
the config owns the seed, and the run comes back as a ``History``::

    cfg = REINFORCEConfig(baseline=True, seed=0)
    policy, value = new_nets(cfg)                     # value is None without a baseline
    history = reinforce(policy, cfg, value=value)     # trains both in place
    mean_last_returns(history), history["solved_at"]
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from .core import (check_bool, check_choice, check_finite_array, check_finite_number, check_nonnegative_int,
                   check_positive_int, check_probability, get_device, seeded)
from .mdp import as_1d, discounted_returns
from .runs import History, RunOptions, threads


def reward_to_go(rewards, gamma: float = 1.0) -> np.ndarray:
    """Ĝ_t = Σ_{k=t}^{T−1} γ^(k−t) r_k for one episode: only the rewards *after* an action count.

    Args:
        rewards: shape (T,), the rewards of one episode.
        gamma: discount in [0, 1] (1 is the plain reward-to-go).

    Returns:
        shape (T,).
    """
    return discounted_returns(as_1d("rewards", rewards), gamma)


def policy_gradient_loss(logp, returns, baseline=None) -> torch.Tensor:
    """The REINFORCE surrogate loss  L(θ) = −mean_t[ log π_θ(a_t|s_t) · (Ĝ_t − b_t) ].

    Its gradient is minus the policy-gradient estimate, so gradient *descent* on L raises the
    log-probability of actions that did better than the baseline. The weights (Ĝ_t − b_t)
    are constants: they carry no gradient.

    Args:
        logp: shape (N,), log π_θ(a_t|s_t) of the actions taken (with gradient).
        returns: shape (N,), the reward-to-go Ĝ_t of each step.
        baseline: shape (N,) or None, b(s_t) subtracted from the returns.

    Returns:
        A scalar tensor.
    """
    logp = torch.as_tensor(check_finite_array("logp", logp, dtype=None) if not torch.is_tensor(logp) else logp)
    if not logp.is_floating_point():
        raise ValueError(f"logp must hold floating-point log-probabilities, got dtype {logp.dtype}")
    returns = torch.as_tensor(check_finite_array("returns", returns, dtype=None), dtype=logp.dtype)
    if logp.ndim != 1 or returns.shape != logp.shape:
        raise ValueError(f"logp and returns must be 1-D with the same shape, got {tuple(logp.shape)} "
                         f"and {tuple(returns.shape)}")
    check_finite_array("logp", logp)  # non-empty and finite: a mean over nothing, or a NaN, is no loss
    adv = returns
    if baseline is not None:
        baseline = torch.as_tensor(check_finite_array("baseline", baseline, dtype=None), dtype=logp.dtype)
        if baseline.shape != logp.shape:
            raise ValueError(f"baseline must have the shape of logp {tuple(logp.shape)}, got {tuple(baseline.shape)}")
        adv = returns - baseline
    return -(logp * adv.detach()).mean()


@dataclass(frozen=True)
class REINFORCEConfig:
    """Hyperparameters of ``reinforce`` and ``new_nets`` (defaults solve CartPole-v1 in a few seconds of CPU)."""

    env_id: str = "CartPole-v1"
    """Any gymnasium env with a Box observation and Discrete actions."""
    gamma: float = 0.99
    """Discount of the reward-to-go; 0.95–1.0."""
    lr: float = 0.01
    """Adam step size of the policy; 1e-3–3e-2."""
    baseline: bool = True
    """Learn V(s) and weight each log-probability by Ĝ_t − V(s_t) instead of Ĝ_t (Sutton & Barto §13.4)."""
    value_lr: float = 0.01
    """Adam step size of the value net (1e-3–3e-2)."""
    value_steps: int = 20
    """Regression steps on V per batch (5–50)."""
    hidden: int = 32
    """Width of the one hidden layer of both nets (16–128)."""
    episodes_per_batch: int = 16
    """Episodes per gradient step, played side by side (4–64; ≥ 2 to measure the variance)."""
    n_iterations: int = 60
    """Gradient steps at most (CartPole: 30–200)."""
    target_return: float | None = 195.0
    """Stop once the mean return of the last 100 episodes reaches it (CartPole-v0's 195); None: never."""
    measure_variance: bool = True
    """Record the per-episode gradient variance of every batch (costs one backward pass per episode)."""
    seed: int = 0
    """Seeds the networks (``new_nets``), the environments and the sampling (any non-negative integer)."""
    device: str | None = None
    """Where ``new_nets`` builds the networks: "cpu", "cuda" or None (CUDA when available; tiny nets are
    faster on the CPU). ``reinforce`` trains them on the device they are on."""

    def __post_init__(self):
        # One set of validators (course_lib.core): NumPy and torch scalars are kept as Python numbers.
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        if not isinstance(self.env_id, str):
            raise ValueError(f"env_id must be a gymnasium id string, got {self.env_id!r}")
        put("gamma", check_probability("gamma", self.gamma))
        for name in ("lr", "value_lr"):
            put(name, check_finite_number(name, getattr(self, name), low=0.0, low_open=True))
        for name in ("value_steps", "hidden", "episodes_per_batch", "n_iterations"):
            put(name, check_positive_int(name, getattr(self, name)))
        for name in ("baseline", "measure_variance"):
            put(name, check_bool(name, getattr(self, name)))
        if self.episodes_per_batch < 2 and self.measure_variance:
            raise ValueError("episodes_per_batch must be at least 2 to measure the gradient variance")
        if self.target_return is not None:
            put("target_return", check_finite_number("target_return", self.target_return))
        put("seed", check_nonnegative_int("seed", self.seed))
        put("device", check_choice("device", self.device, (None, "cpu", "cuda")))


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


@dataclass
class Batch:
    """Episodes played side by side, flattened step by step."""

    obs: torch.Tensor  # (N, obs_dim)
    actions: torch.Tensor  # (N,)
    rtg: torch.Tensor  # (N,) reward-to-go Ĝ_t
    episode: torch.Tensor  # (N,) which episode each step belongs to
    returns: list[float]  # undiscounted return of each episode
    lengths: list[int]


def collect_episodes(envs: list, policy: nn.Module, gamma: float, generator: torch.Generator) -> Batch:
    """Play one episode in each env, all side by side (one forward pass per time step).

    An episode that is truncated (CartPole's 500-step limit) is treated like one that ended:
    the reward-to-go sums the rewards that were seen.
    """
    obs = [env.reset()[0] for env in envs]
    alive = list(range(len(envs)))
    traj = {i: ([], [], []) for i in alive}
    dev = next(policy.parameters()).device
    while alive:
        x = torch.as_tensor(np.stack([obs[i] for i in alive]), dtype=torch.float32, device=dev)
        with torch.no_grad():
            probs = torch.softmax(policy(x), dim=-1)
        if generator.device != probs.device:  # a CPU generator drives sampling for a CUDA policy
            probs = probs.cpu()
        acts = torch.multinomial(probs, 1, generator=generator).squeeze(1).tolist()
        still = []
        for i, a in zip(alive, acts):
            o, r, terminated, truncated, _ = envs[i].step(a)
            traj[i][0].append(obs[i])
            traj[i][1].append(a)
            traj[i][2].append(float(r))
            obs[i] = o
            if not (terminated or truncated):
                still.append(i)
        alive = still
    O, A, G, E, rets, lens = [], [], [], [], [], []
    for i in range(len(envs)):
        o, a, r = traj[i]
        O += o
        A += a
        G.append(reward_to_go(r, gamma))
        E += [i] * len(r)
        rets.append(sum(r))
        lens.append(len(r))
    return Batch(torch.as_tensor(np.array(O), dtype=torch.float32, device=dev), torch.as_tensor(A, device=dev),
                 torch.as_tensor(np.concatenate(G), dtype=torch.float32, device=dev), torch.as_tensor(E, device=dev),
                 rets, lens)


def per_episode_gradients(policy: nn.Module, batch: Batch, weights: torch.Tensor) -> torch.Tensor:
    """ĝ_i = Σ_{t in episode i} ∇_θ log π_θ(a_t|s_t) · w_t for every episode i.

    Returns:
        shape (n_episodes, n_params).
    """
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in policy.named_parameters()}

    def logp_one(p, o, a):
        logits = functional_call(policy, p, (o.unsqueeze(0),))[0]
        return torch.log_softmax(logits, dim=-1).gather(0, a.unsqueeze(0)).squeeze(0)

    g = vmap(grad(logp_one), in_dims=(None, 0, 0))(params, batch.obs, batch.actions)
    flat = torch.cat([g[k].reshape(len(batch.actions), -1) for k in params], dim=1)  # (N, n_params)
    n_ep = len(batch.returns)
    out = torch.zeros(n_ep, flat.shape[1], device=flat.device)
    out.index_add_(0, batch.episode, flat * weights.unsqueeze(1))
    return out


def gradient_variance(policy: nn.Module, batch: Batch, weights: torch.Tensor) -> float:
    """Mean over parameters of the variance, across episodes, of the per-episode gradient ĝ_i.

    The variance of a batch-mean gradient of n episodes is this number divided by n.
    """
    g = per_episode_gradients(policy, batch, weights)
    return float(g.var(dim=0, unbiased=True).mean())


def new_nets(cfg: REINFORCEConfig) -> tuple[nn.Module, nn.Module | None]:
    """The networks ``reinforce`` trains, freshly initialised from ``cfg.seed``: a softmax MLP policy
    (observation -> action logits) and, with ``cfg.baseline``, a value net V(s) (observation -> 1).

    Both are built on ``cfg.device`` inside ``torch.random.fork_rng``, so the caller's global torch
    generator is left as it was, and the same config always gives the same weights.

    Returns:
        (policy, value); value is None when ``cfg.baseline`` is False.
    """
    if not isinstance(cfg, REINFORCEConfig):
        raise ValueError(f"cfg must be a REINFORCEConfig, got {type(cfg).__name__}")
    n_obs, n_act = _env_shape(cfg.env_id)
    dev = get_device(cfg.device)
    with seeded(cfg.seed):  # the caller's global generator is left as it was
        policy = _mlp(n_obs, cfg.hidden, n_act).to(dev)
        value = _mlp(n_obs, cfg.hidden, 1).to(dev) if cfg.baseline else None
    return policy, value


def _env_shape(env_id: str) -> tuple[int, int]:
    """(observation size, number of actions) of a gymnasium env with Box observations and Discrete actions."""
    env = gym.make(env_id)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Discrete):
        raise ValueError(f"env_id must name an env with Box observations and Discrete actions, got {env_id!r}")
    return int(np.prod(obs_space.shape)), int(act_space.n)


def _check_net(name: str, net, n_obs: int, n_out: int, device=None) -> torch.device:
    """The device of ``net``, a module mapping (B, n_obs) observations to (B, n_out); a clear error otherwise."""
    if not isinstance(net, nn.Module) or next(net.parameters(), None) is None:
        raise ValueError(f"{name} must be a torch nn.Module with parameters (e.g. from new_nets(cfg)), "
                         f"got {type(net).__name__}")
    dev = next(net.parameters()).device
    if device is not None and dev != device:
        raise ValueError(f"{name} must be on the policy's device {device}, got {dev}")
    with torch.no_grad():
        try:
            shape = tuple(net(torch.zeros(1, n_obs, device=dev)).shape)
        except RuntimeError as exc:
            raise ValueError(f"{name} must map (B, {n_obs}) observations to (B, {n_out}), but a (1, {n_obs}) "
                             f"batch fails: {exc}") from None
    if shape != (1, n_out):
        raise ValueError(f"{name} must map (B, {n_obs}) observations to (B, {n_out}), got {shape} for a "
                         f"(1, {n_obs}) batch")
    return dev


def mean_last_returns(history: History, n: int = 100) -> float:
    """Mean undiscounted return of the last ``n`` episodes of a ``reinforce`` run (NaN before any episode)."""
    n = check_positive_int("n", n)
    returns = history["episode_return"]
    return float(np.mean(returns[-n:])) if returns else float("nan")


def reinforce(policy: nn.Module, cfg: REINFORCEConfig, *, value: nn.Module | None = None,
              run: RunOptions | None = None) -> History:
    """Train ``policy`` (and ``value``, the baseline) in place with REINFORCE: reward-to-go, optional learned baseline.

    The run is seeded by ``cfg.seed`` alone (environments, sampling, and anything that draws from
    torch's global generator, which is forked: the caller's is left as it was).

    Args:
        policy: maps (B, obs_dim) observations to (B, n_actions) logits (``new_nets(cfg)`` builds it).
        cfg: the hyperparameters.
        value: the value net V(s), (B, obs_dim) -> (B, 1), on the policy's device; required when
            ``cfg.baseline`` is True, and must be None when it is False.
        run: the run contract's options (``course_lib.runs.RunOptions``): threads sets torch's
            threads (without ``run`` they are left as they are),
            progress shows a bar over iterations, training stops after the iteration that
            exceeds max_seconds, and log receives each iteration's record.

    Returns:
        The run's History: per update "iteration", "batch_mean_return" (mean return of the batch's
        episodes), "env_steps" (cumulative), "train_seconds" and, with ``cfg.measure_variance``,
        "grad_variance" (``gradient_variance`` of the weights this run used); per episode
        "episode_return"; totals "config" and "solved_at" (the iteration at which the mean of the
        last 100 returns reached ``cfg.target_return``, or None).
    """
    if run is None:
        run = RunOptions(threads=None)
    elif not isinstance(run, RunOptions):
        raise ValueError(f"run must be a RunOptions or None, got {type(run).__name__}")
    if not isinstance(cfg, REINFORCEConfig):
        raise ValueError(f"cfg must be a REINFORCEConfig, got {type(cfg).__name__}")
    cfg = run.configure(cfg)
    n_obs, n_act = _env_shape(cfg.env_id)
    dev = _check_net("policy", policy, n_obs, n_act)
    if cfg.baseline and value is None:
        raise ValueError("value must be the value net V(s) when cfg.baseline is True (new_nets(cfg) builds both), got None")
    if not cfg.baseline and value is not None:
        raise ValueError("value must be None when cfg.baseline is False (this run weights by the plain reward-to-go)")
    if value is not None:
        _check_net("value", value, n_obs, 1, device=dev)
    with threads(run.threads), seeded(cfg.seed):
        return _reinforce(policy, value, cfg, run)


def _reinforce(policy: nn.Module, value: nn.Module | None, cfg: REINFORCEConfig, run: RunOptions) -> History:
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(int(cfg.seed))
    envs = [gym.make(cfg.env_id) for _ in range(cfg.episodes_per_batch)]
    for i, env in enumerate(envs):  # seed once; later resets continue each env's own generator
        env.reset(seed=cfg.seed * 10_000 + i)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    vopt = torch.optim.Adam(value.parameters(), lr=cfg.value_lr) if value is not None else None
    hist = History(updates=("iteration", "batch_mean_return", "env_steps", "train_seconds")
                   + (("grad_variance",) if cfg.measure_variance else ()),
                   episodes=("episode_return",), config=cfg, solved_at=None)
    steps = 0
    iterations = range(cfg.n_iterations)
    if run.progress:
        from tqdm.auto import tqdm

        iterations = tqdm(iterations, desc="REINFORCE", leave=False)
    for it in iterations:
        # 1. collect a batch of whole episodes with the current policy
        batch = collect_episodes(envs, policy, cfg.gamma, gen)
        steps += len(batch.actions)
        # 2. the weight of each log-probability: Ĝ_t, or Ĝ_t − V(s_t) with a baseline
        if value is not None:
            with torch.no_grad():
                b = value(batch.obs).squeeze(1)
        else:
            b = torch.zeros_like(batch.rtg)
        rec = {"grad_variance": gradient_variance(policy, batch, batch.rtg - b)} if cfg.measure_variance else {}
        # 3. one policy-gradient step on the surrogate loss
        logp = torch.log_softmax(policy(batch.obs), dim=-1).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        loss = policy_gradient_loss(logp, batch.rtg, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        # 4. fit the baseline V(s) to the reward-to-go by least squares
        if value is not None:
            for _ in range(cfg.value_steps):
                vloss = ((value(batch.obs).squeeze(1) - batch.rtg) ** 2).mean()
                vopt.zero_grad()
                vloss.backward()
                vopt.step()
        # 5. record the iteration and its episodes
        rec = {"iteration": it, "batch_mean_return": float(np.mean(batch.returns)), "env_steps": steps,
               "train_seconds": time.perf_counter() - start, **rec}
        hist.record("updates", rec)
        for ret in batch.returns:
            hist.record("episodes", {"episode_return": ret})
        if run.log is not None:
            run.log(rec)
        if (cfg.target_return is not None and len(hist["episode_return"]) >= 100
                and mean_last_returns(hist) >= cfg.target_return):
            hist["solved_at"] = it
            break
        if run.out_of_time(rec["train_seconds"]):
            break
    for env in envs:
        env.close()
    return hist


def compare_gradient_variance(policy: nn.Module, value: nn.Module, cfg: REINFORCEConfig, n_episodes: int = 32,
                              seed: int = 123) -> dict:
    """Variance of the per-episode gradient with Ĝ_t and with Ĝ_t − V(s_t), on the same episodes.

    Args:
        policy, value: the trained networks of a run with a baseline (``reinforce(policy, cfg, value=value)``).
        cfg: that run's config (its env_id and gamma are used).
        n_episodes: fresh episodes played with ``policy``, each env seeded from ``seed``.

    Returns:
        {"no_baseline": float, "baseline": float, "ratio": no_baseline / baseline}.
    """
    if not isinstance(cfg, REINFORCEConfig):
        raise ValueError(f"cfg must be a REINFORCEConfig, got {type(cfg).__name__}")
    if value is None:
        raise ValueError("value must be the value net of a run with baseline=True, got None")
    n_obs, n_act = _env_shape(cfg.env_id)
    dev = _check_net("policy", policy, n_obs, n_act)
    _check_net("value", value, n_obs, 1, device=dev)
    n_episodes = check_positive_int("n_episodes", n_episodes)
    seed = check_nonnegative_int("seed", seed)
    envs = [gym.make(cfg.env_id) for _ in range(n_episodes)]
    for i, env in enumerate(envs):
        env.reset(seed=seed * 10_000 + i)
    batch = collect_episodes(envs, policy, cfg.gamma, torch.Generator().manual_seed(seed))
    for env in envs:
        env.close()
    with torch.no_grad():
        b = value(batch.obs).squeeze(1)
    plain = gradient_variance(policy, batch, batch.rtg)
    based = gradient_variance(policy, batch, batch.rtg - b)
    return {"no_baseline": plain, "baseline": based, "ratio": plain / based}
