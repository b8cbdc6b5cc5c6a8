"""Tabular learning from experience (notebook 02): MC and TD(0) prediction, SARSA, Q-learning.

Every algorithm runs on a gymnasium environment with ``Discrete`` observations and actions
(the course's ``GridWorld``, FrozenLake-v1, CliffWalking-v1, ...), is seeded, and returns a
per-episode history. The one-step updates are small pure functions (``td0_update``,
``sarsa_update``, ``q_learning_update``) that return a new table, so they can be tested and
checked as exercises.

Episode ends: ``terminated`` means the MDP reached a terminal state (nothing follows, so the
target does not bootstrap); ``truncated`` means a time limit cut the episode (the state still
has a future, so the target bootstraps from it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from .core import (check_finite_array, check_finite_number, check_indices, check_nonnegative_int,
                   check_positive_int, check_probability)
from .mdp import policy_matrix


# ---------------------------------------------------------------------------------------------
# ε-greedy action choice
# ---------------------------------------------------------------------------------------------

def epsilon_greedy_probs(q_values, epsilon: float) -> np.ndarray:
    """Action probabilities of the ε-greedy policy for one state's action values.

    With probability ε the action is drawn uniformly from all A actions; otherwise it is
    greedy. Greedy ties are split evenly, so  π(a) = ε/A + (1 − ε)/k  for each of the k
    maximising actions and ε/A for the others.

    Args:
        q_values: shape (A,), Q(s, ·).
        epsilon: exploration rate in [0, 1].

    Returns:
        shape (A,) probabilities summing to 1.
    """
    epsilon = check_probability("epsilon", epsilon)
    q = check_finite_array("q_values", q_values, nonempty=False)
    if q.ndim != 1 or len(q) == 0:
        raise ValueError(f"q_values must be a non-empty 1-D array, got shape {q.shape}")
    return _epsilon_greedy_probs(q, epsilon)


def _epsilon_greedy_probs(q: np.ndarray, epsilon: float) -> np.ndarray:
    best = q == q.max()
    return epsilon / len(q) + (1.0 - epsilon) * best / best.sum()


def epsilon_greedy(q_values, epsilon: float, rng: np.random.Generator) -> int:
    """Sample an action from ``epsilon_greedy_probs(q_values, epsilon)`` with ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return _sample_epsilon_greedy(epsilon_greedy_probs(q_values, epsilon), rng)


def _sample_epsilon_greedy(probs: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.choice(len(probs), p=probs))


# ---------------------------------------------------------------------------------------------
# One-step updates (pure: they return a new table)
# ---------------------------------------------------------------------------------------------

def _check_alpha(alpha) -> float:
    """The step size α in (0, 1]: 0 learns nothing, above 1 overshoots the target."""
    return check_finite_number("alpha", alpha, low=0.0, high=1.0, low_open=True)


def _check_terminated(terminated) -> bool:
    if isinstance(terminated, (bool, np.bool_)) or (isinstance(terminated, (int, np.integer)) and terminated in (0, 1)):
        return bool(terminated)
    raise ValueError(f"terminated must be True or False, got {terminated!r}")


def _check_step(table, name: str, ndim: int, states: dict, actions: dict, r, terminated, alpha, gamma):
    """Check one update's arguments: a finite table, state and action indices in range, a finite
    reward, α in (0, 1], γ in [0, 1]. Returns the table as a new float array."""
    table = np.array(check_finite_array(name, table, ndim=ndim), dtype=float)
    for arg, value in states.items():  # one index each: an integer scalar in range
        check_indices(arg, check_finite_number(arg, value, integer=True), table.shape[0])
    for arg, value in actions.items():
        check_indices(arg, check_finite_number(arg, value, integer=True), table.shape[1])
    return (table, check_finite_number("r", r), _check_terminated(terminated), _check_alpha(alpha),
            check_probability("gamma", gamma))


def _td0_step(V: np.ndarray, s: int, r: float, s_next: int, terminated: bool, alpha: float, gamma: float) -> None:
    """TD(0) on ``V`` in place (arguments already checked)."""
    target = r + (0.0 if terminated else gamma * V[s_next])
    V[s] += alpha * (target - V[s])


def _sarsa_step(Q, s, a, r, s_next, a_next, terminated, alpha, gamma) -> None:
    target = r + (0.0 if terminated else gamma * Q[s_next, a_next])
    Q[s, a] += alpha * (target - Q[s, a])


def _q_learning_step(Q, s, a, r, s_next, terminated, alpha, gamma) -> None:
    target = r + (0.0 if terminated else gamma * np.max(Q[s_next]))
    Q[s, a] += alpha * (target - Q[s, a])


def td0_update(V, s: int, r: float, s_next: int, terminated: bool, alpha: float, gamma: float) -> np.ndarray:
    """TD(0):  V(s) ← V(s) + α [ r + γ V(s') − V(s) ],  with V(s') taken as 0 if terminated.

    Args:
        V: shape (S,) finite values; s, s_next: states in 0..S-1; r: the finite reward;
        terminated: whether s' is terminal; alpha: step size in (0, 1]; gamma: discount in [0, 1].

    Returns:
        A new array; ``V`` itself is left unchanged.
    """
    V, r, terminated, alpha, gamma = _check_step(V, "V", 1, {"s": s, "s_next": s_next}, {}, r, terminated,
                                                 alpha, gamma)
    _td0_step(V, int(s), r, int(s_next), terminated, alpha, gamma)
    return V


def sarsa_update(Q, s: int, a: int, r: float, s_next: int, a_next: int, terminated: bool,
                 alpha: float, gamma: float) -> np.ndarray:
    """SARSA:  Q(s,a) ← Q(s,a) + α [ r + γ Q(s', a') − Q(s,a) ],  a' the action actually taken next.

    Q has shape (S, A); states lie in 0..S-1 and actions in 0..A-1; other arguments as ``td0_update``.
    """
    Q, r, terminated, alpha, gamma = _check_step(Q, "Q", 2, {"s": s, "s_next": s_next}, {"a": a, "a_next": a_next},
                                                 r, terminated, alpha, gamma)
    _sarsa_step(Q, int(s), int(a), r, int(s_next), int(a_next), terminated, alpha, gamma)
    return Q


def q_learning_update(Q, s: int, a: int, r: float, s_next: int, terminated: bool,
                      alpha: float, gamma: float) -> np.ndarray:
    """Q-learning:  Q(s,a) ← Q(s,a) + α [ r + γ max_a' Q(s', a') − Q(s,a) ].

    Arguments as ``sarsa_update`` (without a').
    """
    Q, r, terminated, alpha, gamma = _check_step(Q, "Q", 2, {"s": s, "s_next": s_next}, {"a": a}, r, terminated,
                                                 alpha, gamma)
    _q_learning_step(Q, int(s), int(a), r, int(s_next), terminated, alpha, gamma)
    return Q


# ---------------------------------------------------------------------------------------------
# Running on a gymnasium environment
# ---------------------------------------------------------------------------------------------

@dataclass
class TabularHistory:
    """What a tabular run returns.

    Attributes:
        values: V (prediction, shape (S,)) or Q (control, shape (S, A)) after the last episode.
        returns: undiscounted return of every episode, shape (n_episodes,).
        lengths: steps of every episode, shape (n_episodes,).
        snapshots: the table after every episode, shape (n_episodes, S) or (n_episodes, S, A).
    """

    values: np.ndarray
    returns: np.ndarray
    lengths: np.ndarray
    snapshots: np.ndarray = field(repr=False)

    @property
    def policy(self) -> np.ndarray:
        """Greedy policy argmax_a Q(s, a), shape (S,) (control runs only)."""
        if self.values.ndim != 2:
            raise ValueError("a policy exists only for control runs (Q of shape (S, A))")
        return np.argmax(self.values, axis=1)


def _make_env(env) -> gym.Env:
    if isinstance(env, str):
        return gym.make(env)
    if not isinstance(env, gym.Env):
        raise ValueError(f"env must be a gymnasium environment or an environment id, got {type(env).__name__}")
    return env


def _spaces(env) -> tuple[int, int]:
    obs, act = env.observation_space, env.action_space
    if not isinstance(obs, gym.spaces.Discrete) or not isinstance(act, gym.spaces.Discrete):
        raise ValueError("env must have Discrete observation and action spaces for tabular methods, "
                         f"got {obs} and {act}")
    return int(obs.n), int(act.n)


def _check_run_args(n_episodes, alpha, gamma, seed):
    n_episodes = check_positive_int("n_episodes", n_episodes)
    if alpha is not None:
        alpha = _check_alpha(alpha)
    gamma = check_probability("gamma", gamma)
    seed = check_nonnegative_int("seed", seed)
    return n_episodes, alpha, gamma, seed


def _obs0(env, obs) -> int:
    return int(obs) - int(getattr(env.observation_space, "start", 0))


def run_episode(env, policy_fn, rng: np.random.Generator, seed: int | None = None):
    """Play one episode; ``policy_fn(s, rng) -> a``.

    Returns:
        (states, actions, rewards, terminated): lists of equal length T and whether the
        episode ended in a terminal state (False when it was truncated).
    """
    obs, _ = env.reset(seed=seed)
    s = _obs0(env, obs)
    states, actions, rewards = [], [], []
    while True:
        a = policy_fn(s, rng)
        obs, r, terminated, truncated, _ = env.step(a)
        states.append(s)
        actions.append(a)
        rewards.append(float(r))
        s = _obs0(env, obs)
        if terminated or truncated:
            return states, actions, rewards, bool(terminated)


def mc_prediction(env, policy, gamma: float, n_episodes: int, seed: int = 0,
                  alpha: float | None = None, first_visit: bool = True) -> TabularHistory:
    """Monte Carlo prediction of V_π: average the observed returns G_t of the visited states.

        V(s) ← V(s) + α_n (G_t − V(s)),  α_n = 1/N(s) (a sample average) or a constant α.

    Args:
        env: a gymnasium env (or id) with Discrete observations and actions.
        policy: shape (S, A) probabilities (or (S,) integer actions) of the policy evaluated.
        gamma: discount in [0, 1].
        n_episodes: number of episodes.
        seed: seeds the environment (episode i is reset with seed + i) and the action choice.
        alpha: constant step size in (0, 1]; None for the sample average.
        first_visit: count only the first visit of a state in each episode.
    """
    env = _make_env(env)
    S, A = _spaces(env)
    n_episodes, alpha, gamma, seed = _check_run_args(n_episodes, alpha, gamma, seed)
    pi = policy_matrix(policy, S, A)
    rng = np.random.default_rng(seed)
    V, N = np.zeros(S), np.zeros(S)
    snaps, rets, lens = np.zeros((n_episodes, S)), np.zeros(n_episodes), np.zeros(n_episodes, int)
    act = lambda s, g: int(g.choice(A, p=pi[s]))  # noqa: E731
    for i in range(n_episodes):
        states, _, rewards, _ = run_episode(env, act, rng, seed=seed + i)
        G = 0.0
        first = {s: t for t, s in reversed(list(enumerate(states)))}  # first visit time of each state
        for t in reversed(range(len(states))):  # G_t = r_t + γ G_{t+1}, backwards
            G = rewards[t] + gamma * G
            s = states[t]
            if first_visit and first[s] != t:
                continue
            N[s] += 1
            V[s] += (alpha if alpha is not None else 1.0 / N[s]) * (G - V[s])
        snaps[i], rets[i], lens[i] = V, sum(rewards), len(rewards)
    return TabularHistory(V.copy(), rets, lens, snaps)


def td0_prediction(env, policy, gamma: float, alpha: float, n_episodes: int, seed: int = 0) -> TabularHistory:
    """TD(0) prediction of V_π: after every step move V(s) toward r + γ V(s') (``td0_update``).

    Arguments as ``mc_prediction``; alpha is the constant step size in (0, 1].
    """
    env = _make_env(env)
    S, A = _spaces(env)
    n_episodes, alpha, gamma, seed = _check_run_args(n_episodes, alpha, gamma, seed)
    if alpha is None:
        raise ValueError("alpha must be a number in (0, 1] for TD(0), got None")
    pi = policy_matrix(policy, S, A)
    rng = np.random.default_rng(seed)
    V = np.zeros(S)
    snaps, rets, lens = np.zeros((n_episodes, S)), np.zeros(n_episodes), np.zeros(n_episodes, int)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        s, total, steps = _obs0(env, obs), 0.0, 0
        while True:
            a = int(rng.choice(A, p=pi[s]))
            obs, r, terminated, truncated, _ = env.step(a)
            s_next = _obs0(env, obs)
            _td0_step(V, s, float(r), s_next, terminated, alpha, gamma)  # td0_update, in place
            s, total, steps = s_next, total + float(r), steps + 1
            if terminated or truncated:
                break
        snaps[i], rets[i], lens[i] = V, total, steps
    return TabularHistory(V.copy(), rets, lens, snaps)


def _control(env, method: str, n_episodes: int, alpha: float, gamma: float, epsilon: float,
             seed: int, q_init: float) -> TabularHistory:
    env = _make_env(env)
    S, A = _spaces(env)
    n_episodes, alpha, gamma, seed = _check_run_args(n_episodes, alpha, gamma, seed)
    if alpha is None:
        raise ValueError("alpha must be a number in (0, 1], got None")
    epsilon = check_probability("epsilon", epsilon)
    q_init = check_finite_number("q_init", q_init)
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    Q = np.full((S, A), q_init)
    snaps = np.zeros((n_episodes, S, A))
    rets, lens = np.zeros(n_episodes), np.zeros(n_episodes, int)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        s, total, steps = _obs0(env, obs), 0.0, 0
        a = _sample_epsilon_greedy(_epsilon_greedy_probs(Q[s], epsilon), rng)  # epsilon_greedy, checked above
        while True:
            obs, r, terminated, truncated, _ = env.step(a)
            s_next, r = _obs0(env, obs), float(r)
            a_next = _sample_epsilon_greedy(_epsilon_greedy_probs(Q[s_next], epsilon), rng)
            # sarsa_update / q_learning_update, in place (their arguments were checked above)
            if method == "sarsa":  # on-policy: bootstrap from the action it will take
                _sarsa_step(Q, s, a, r, s_next, a_next, terminated, alpha, gamma)
            else:  # off-policy: bootstrap from the greedy action
                _q_learning_step(Q, s, a, r, s_next, terminated, alpha, gamma)
            s, a, total, steps = s_next, a_next, total + r, steps + 1
            if terminated or truncated:
                break
        snaps[i], rets[i], lens[i] = Q, total, steps
    return TabularHistory(Q.copy(), rets, lens, snaps)


def sarsa(env, n_episodes: int, alpha: float = 0.5, gamma: float = 1.0, epsilon: float = 0.1,
          seed: int = 0, q_init: float = 0.0) -> TabularHistory:
    """SARSA (on-policy TD control) with ε-greedy exploration.

    Args:
        env: a gymnasium env (or id) with Discrete observations and actions.
        n_episodes: number of episodes.
        alpha: step size in (0, 1].
        gamma: discount in [0, 1].
        epsilon: exploration rate in [0, 1] (held fixed).
        seed: seeds the environment (episode i resets with seed + i) and the exploration.
        q_init: initial value of every Q(s, a) (optimistic values explore more).
    """
    return _control(env, "sarsa", n_episodes, alpha, gamma, epsilon, seed, q_init)


def q_learning(env, n_episodes: int, alpha: float = 0.5, gamma: float = 1.0, epsilon: float = 0.1,
               seed: int = 0, q_init: float = 0.0) -> TabularHistory:
    """Q-learning (off-policy TD control) with ε-greedy exploration; arguments as ``sarsa``."""
    return _control(env, "q_learning", n_episodes, alpha, gamma, epsilon, seed, q_init)


def greedy_return(env, Q, n_episodes: int = 1, seed: int = 0) -> float:
    """Mean undiscounted return of the greedy policy argmax_a Q(s, a) over ``n_episodes``."""
    env = _make_env(env)
    S, A = _spaces(env)
    Q = check_finite_array("Q", Q, nonempty=False)
    if Q.shape != (S, A):
        raise ValueError(f"Q must have shape ({S}, {A}), got {Q.shape}")
    n_episodes = check_positive_int("n_episodes", n_episodes)
    seed = check_nonnegative_int("seed", seed)
    rng = np.random.default_rng(seed)
    totals = [sum(run_episode(env, lambda s, g: int(np.argmax(Q[s])), rng, seed=seed + i)[2])
              for i in range(n_episodes)]
    return float(np.mean(totals))


def epsilon_sweep(env, epsilons, n_episodes: int, seeds=(0, 1, 2), alpha: float = 0.5,
                  gamma: float = 1.0, alphas=None) -> dict:
    """SARSA and Q-learning for several ε (and optionally several α) and seeds, computed once
    for the sliders of notebook 02.

    Args:
        epsilons: the exploration rates to run.
        alpha: the step size when ``alphas`` is None.
        alphas: optionally several step sizes; then every (ε, α) pair is run.

    Returns:
        {epsilon: {"sarsa": [history per seed], "q_learning": [...]}}, or with ``alphas``
        the same keyed by (epsilon, alpha) pairs.
    """
    epsilons, seeds = list(epsilons), list(seeds)
    if len(epsilons) == 0 or len(seeds) == 0:
        raise ValueError("epsilons and seeds must each hold at least one value")
    out = {}
    for eps in epsilons:
        eps = check_probability("epsilon", eps)
        for a in ([alpha] if alphas is None else alphas):
            a = _check_alpha(a)
            key = eps if alphas is None else (eps, a)
            out[key] = {"sarsa": [sarsa(env, n_episodes, a, gamma, eps, seed=s) for s in seeds],
                        "q_learning": [q_learning(env, n_episodes, a, gamma, eps, seed=s) for s in seeds]}
    return out
