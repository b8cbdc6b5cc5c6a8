"""The actor-critic network of PPO: a policy net and a separate value net (notebook 04).

Both are MLPs with tanh between layers and the sizes of Stable-Baselines3's ``MlpPolicy``
(64-64 each), initialised the same way (orthogonal weights; gain √2 in hidden layers, 0.01 for
the action logits, 1 for the value). Rollouts and evaluation step the policy with NumPy
(``act_numpy``): for 8 observations at a time a NumPy forward pass costs a few microseconds,
torch's per-call overhead is several times that. ``tests/test_ppo.py`` checks the two agree.
"""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..core import get_device, seeded
from ..runs import threads
from .config import PPOConfig


def env_sizes(env: str | gym.Env | gym.vector.VectorEnv) -> tuple[int, int]:
    """(observation size, number of actions) of an env PPO can train on: flat Box observations and
    Discrete actions.

    Args:
        env: a gymnasium id (e.g. "CartPole-v1"), a gymnasium env, or a gymnasium vector env (its
            spaces of one copy are read).
    """
    if isinstance(env, str):
        try:
            gym.spec(env)
        except gym.error.Error as exc:
            raise ValueError(f"env {env!r} is not a registered gymnasium environment ({exc})") from None
        one = gym.make(env)
        obs_space, act_space = one.observation_space, one.action_space
        one.close()
    elif isinstance(env, gym.vector.VectorEnv):
        obs_space, act_space = env.single_observation_space, env.single_action_space
    elif isinstance(env, gym.Env):
        obs_space, act_space = env.observation_space, env.action_space
    else:
        raise ValueError(f"env must be a gymnasium id, env or vector env, got {type(env).__name__}")
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ValueError(f"PPO here supports Discrete action spaces, got {act_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"PPO here needs flat Box observations, got {obs_space}")
    return int(obs_space.shape[0]), int(act_space.n)


def _mlp(sizes: list[int], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, gain=out_gain if last else np.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """π_θ(a|s) as logits over discrete actions, and V_φ(s), in two separate MLPs.

    Args:
        obs_dim: size of the (flat) observation.
        n_actions: number of discrete actions.
        hidden: hidden layer sizes, used for both nets.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        for name, value in (("obs_dim", obs_dim), ("n_actions", n_actions)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not hidden or not all(isinstance(h, (int, np.integer)) and h > 0 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive integers, got {hidden!r}")
        self.obs_dim, self.n_actions, self.hidden = int(obs_dim), int(n_actions), tuple(int(h) for h in hidden)
        self.pi = _mlp([self.obs_dim, *self.hidden, self.n_actions], out_gain=0.01)
        self.vf = _mlp([self.obs_dim, *self.hidden, 1], out_gain=1.0)
        self._np_cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._layers: tuple[list[nn.Linear], list[nn.Linear]] | None = None

    @classmethod
    def for_env(cls, env: str | gym.Env | gym.vector.VectorEnv, cfg: PPOConfig | None = None) -> ActorCritic:
        """The network ``train_ppo(policy, env, cfg)`` trains: its sizes from ``env``'s spaces
        (``env_sizes``) and ``cfg.hidden``, its initial weights from ``cfg.seed``, on ``cfg.device``.

        The weights are drawn inside ``core.seeded(cfg.seed)`` (torch's CPU generator forked and seeded)
        with one torch thread (the QR decomposition of the orthogonal initialisation rounds differently
        with more): the caller's global generators are left as they were, and the same seed gives the
        same network on any machine.
        """
        cfg = PPOConfig() if cfg is None else cfg
        if not isinstance(cfg, PPOConfig):
            raise ValueError(f"cfg must be a PPOConfig, got {type(cfg).__name__}")
        obs_dim, n_actions = env_sizes(env)
        with threads(1), seeded(cfg.seed):  # built on the CPU, then moved
            net = cls(obs_dim, n_actions, cfg.hidden)
        return net.to(get_device(cfg.device))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, obs_dim) -> (logits (B, n_actions), values (B,))."""
        return self.pi(obs), self.vf(obs).squeeze(-1)

    def linear_layers(self) -> tuple[list[nn.Linear], list[nn.Linear]]:
        """The Linear layers of the policy net and of the value net, in order."""
        if self._layers is None:
            self._layers = ([m for m in self.pi if isinstance(m, nn.Linear)],
                            [m for m in self.vf if isinstance(m, nn.Linear)])
        return self._layers

    # --- NumPy mirror of the policy net, for stepping environments ------------------------

    def sync_numpy(self) -> None:
        """Refresh the NumPy copy of the policy weights (call after the weights changed).

        On the CPU the arrays share memory with the parameters, so in-place optimizer steps
        show up without a copy; on a GPU they are copied.
        """
        layers = [m for m in self.pi if isinstance(m, nn.Linear)]
        self._np_cache = [(m.weight.detach().cpu().numpy().T, m.bias.detach().cpu().numpy()) for m in layers]

    def logits_numpy(self, obs: np.ndarray) -> np.ndarray:
        """Policy logits with NumPy: obs (N, obs_dim) float32 -> (N, n_actions).

        On the CPU the NumPy weights are the parameters' own memory; for a policy on a GPU they
        are a copy, refreshed by ``sync_numpy()`` (``train_ppo`` and ``evaluate`` call it).
        """
        if self._np_cache is None:
            self.sync_numpy()
        x = obs
        last = len(self._np_cache) - 1
        for i, (w_t, b) in enumerate(self._np_cache):
            x = x @ w_t
            x += b
            if i < last:
                np.tanh(x, out=x)
        return x

    def act_numpy(self, obs: np.ndarray, rng: np.random.Generator | None = None,
                  deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations: argmax if deterministic, else sampled from π.

        Sampling inverts the CDF: a ~ π(·|s) is the first action whose cumulative probability
        exceeds a uniform draw u ~ U(0, 1).
        """
        logits = self.logits_numpy(np.asarray(obs, dtype=np.float32))
        if deterministic:
            return logits.argmax(axis=1)
        if rng is None:
            raise ValueError("rng must be a numpy Generator when deterministic=False")
        # (ufuncs called directly, in place: a rollout calls this once per vector step, on a few rows)
        logits -= np.maximum.reduce(logits, axis=1, keepdims=True)
        cdf = np.cumsum(np.exp(logits, out=logits), axis=1, out=logits)
        u = rng.random(len(cdf))
        u *= cdf[:, -1]  # scale u instead of normalising the probabilities
        return np.minimum(np.add.reduce(np.less_equal(cdf, u[:, None]), axis=1), self.n_actions - 1)

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .double() make new tensors
        self._np_cache = None
        return super()._apply(fn, *args, **kwargs)


def save_policy(policy: ActorCritic, path: str | Path) -> Path:
    """Save the weights and the architecture (plain tensors and ints, so loading needs no pickle)."""
    if not isinstance(policy, ActorCritic):
        raise ValueError(f"policy must be an ActorCritic, got {type(policy).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
    torch.save({"format": "course_lib.ppo.policy/1", "obs_dim": policy.obs_dim,
                "n_actions": policy.n_actions, "hidden": list(policy.hidden), "state_dict": state}, path)
    return path


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> ActorCritic:
    """Load a policy saved by ``save_policy`` with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be a file saved by save_policy, got {str(path)!r} (not found)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "course_lib.ppo.policy/1":
        raise ValueError(f"path {str(path)!r} is not a course_lib PPO policy file")
    policy = ActorCritic(blob["obs_dim"], blob["n_actions"], tuple(blob["hidden"]))
    policy.load_state_dict(blob["state_dict"])
    return policy.to(device)
