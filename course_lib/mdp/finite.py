"""Finite MDPs (notebook 01): P[s, a, s'] and R[s, a, s'] as arrays, the Bellman equations, policy
evaluation and value iteration, a two-state example, the LLM as a token MDP, and gymnasium's toy-text
environments as finite MDPs."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core import (check_finite_array, check_finite_number, check_int_in_range, check_positive_int,
                    check_probability)
from .returns import as_1d


# ---------------------------------------------------------------------------------------------
# Finite MDPs: P[s, a, s'] and R[s, a, s'] as arrays, the Bellman equations, value iteration.
# ---------------------------------------------------------------------------------------------


def _check_gamma(gamma: float) -> float:
    return check_probability("gamma", gamma)


def _check_positive(name: str, value, integer: bool = False):
    """A positive integer, or a finite number > 0 (``core``'s checks)."""
    if integer:
        return check_positive_int(name, value)
    return check_finite_number(name, value, low=0.0, low_open=True)


class FiniteMDP:
    """A finite MDP given by arrays, validated on construction (notebook 01).

    Args:
        P: shape (S, A, S), P[s, a, s'] = probability of landing in s' after action a in s.
            Non-negative, each row P[s, a, :] sums to 1.
        R: shape (S, A, S) with the reward R(s, a, s') of that transition, or shape (S, A)
            with the expected reward of taking a in s.
        terminal: optional shape (S,) booleans marking terminal states. A terminal state
            must be absorbing (P[s, a, s] = 1) and pay nothing (its rewards are 0), so its
            value is 0; None marks none.

    Attributes:
        P, R: float arrays; R is always stored with shape (S, A, S).
        terminal: bool array of shape (S,).
    """

    def __init__(self, P, R, terminal=None, atol: float = 1e-8):
        P = np.array(check_finite_array("P", P, nonempty=False), dtype=float)
        R = np.array(check_finite_array("R", R, nonempty=False), dtype=float)
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] < 1 or P.shape[1] < 1:
            raise ValueError(f"P must have shape (S, A, S) with S, A >= 1, got shape {P.shape}")
        S, A, _ = P.shape
        if not np.all(np.isfinite(P)):
            raise ValueError("P must contain only finite numbers")
        if np.any(P < 0):
            s, a, s2 = np.argwhere(P < 0)[0]
            raise ValueError(f"P must be non-negative, but P[{s}, {a}, {s2}] = {P[s, a, s2]:g}")
        sums = P.sum(axis=2)
        if not np.allclose(sums, 1.0, atol=1e-6):
            s, a = np.argwhere(~np.isclose(sums, 1.0, atol=1e-6))[0]
            raise ValueError(
                f"P[s, a, :] must sum to 1 for every s and a, but P[{s}, {a}, :] sums to {sums[s, a]:g}")
        if R.shape == (S, A):
            R = np.repeat(R[:, :, None], S, axis=2)
        elif R.shape != (S, A, S):
            raise ValueError(f"R must have shape (S, A, S) = {(S, A, S)} or (S, A) = {(S, A)} "
                             f"to agree with P, got shape {R.shape}")
        if not np.all(np.isfinite(R)):
            raise ValueError("R must contain only finite numbers")
        if terminal is None:
            terminal = np.zeros(S, dtype=bool)
        else:
            terminal = np.asarray(terminal)
            if terminal.shape != (S,) or terminal.dtype != bool:
                raise ValueError(f"terminal must be a boolean array of shape ({S},), got "
                                 f"{terminal.dtype} array of shape {terminal.shape}")
            for s in np.flatnonzero(terminal):
                if not np.allclose(P[s, :, s], 1.0, atol=atol):
                    raise ValueError(f"terminal state {s} must be absorbing: P[{s}, a, {s}] must be 1")
                if not np.allclose(R[s], 0.0, atol=atol):
                    raise ValueError(f"terminal state {s} must pay no reward: R[{s}] must be 0")
        self.P, self.R, self.terminal = P, R, terminal.copy()

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def expected_reward(self) -> np.ndarray:
        """r(s, a) = Σ_s' P(s'|s,a) R(s,a,s'), shape (S, A)."""
        return (self.P * self.R).sum(axis=2)

    def __repr__(self) -> str:
        return f"FiniteMDP(S={self.n_states}, A={self.n_actions}, terminal states={int(self.terminal.sum())})"


def as_mdp(P, R=None) -> FiniteMDP:
    """A FiniteMDP from (P, R) arrays, or the FiniteMDP itself when one is passed as P."""
    if isinstance(P, FiniteMDP):
        if R is not None:
            raise ValueError("R must be None when P is already a FiniteMDP")
        return P
    if R is None:
        raise ValueError("R is required when P is an array")
    return FiniteMDP(P, R)


def policy_matrix(policy, n_states: int, n_actions: int) -> np.ndarray:
    """A policy as probabilities π[s, a] of shape (S, A).

    Args:
        policy: shape (S,) integer actions (a deterministic policy) or shape (S, A)
            probabilities (each row non-negative, summing to 1).
    """
    pi = check_finite_array("policy", policy, nonempty=False, dtype=None)
    if pi.shape == (n_states,) and np.issubdtype(pi.dtype, np.integer):
        if np.any(pi < 0) or np.any(pi >= n_actions):
            raise ValueError(f"policy actions must lie in 0..{n_actions - 1}, got {pi.tolist()}")
        out = np.zeros((n_states, n_actions))
        out[np.arange(n_states), pi] = 1.0
        return out
    if pi.shape != (n_states, n_actions):
        raise ValueError(f"policy must be integer actions of shape ({n_states},) or probabilities "
                         f"of shape ({n_states}, {n_actions}), got {pi.dtype} array of shape {pi.shape}")
    pi = pi.astype(float)
    if np.any(pi < 0) or not np.allclose(pi.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("policy probabilities must be non-negative and each row must sum to 1")
    return pi


def bellman_backup(P, R, V, policy, gamma: float) -> np.ndarray:
    """One sweep of the Bellman expectation equation for a policy π (notebook 01).

        V_new(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) [ R(s,a,s') + γ V(s') ]

    Args:
        P: shape (S, A, S); R: shape (S, A, S) or (S, A) (or pass a FiniteMDP as P, R=None).
        V: shape (S,), the current value estimate.
        policy: shape (S, A) probabilities or (S,) integer actions.
        gamma: discount in [0, 1].

    Returns:
        V_new, shape (S,).
    """
    mdp = as_mdp(P, R)
    gamma = _check_gamma(gamma)
    V = as_1d("V", V)
    if len(V) != mdp.n_states:
        raise ValueError(f"V must have one value per state ({mdp.n_states}), got {len(V)}")
    pi = policy_matrix(policy, mdp.n_states, mdp.n_actions)
    Q = q_from_v(mdp, None, V, gamma)
    return (pi * Q).sum(axis=1)


def q_from_v(P, R, V, gamma: float) -> np.ndarray:
    """Action values from state values: Q(s,a) = Σ_s' P(s'|s,a) [R(s,a,s') + γ V(s')].

    Returns:
        Q, shape (S, A).
    """
    mdp = as_mdp(P, R)
    gamma = _check_gamma(gamma)
    V = as_1d("V", V)
    if len(V) != mdp.n_states:
        raise ValueError(f"V must have one value per state ({mdp.n_states}), got {len(V)}")
    return (mdp.P * (mdp.R + gamma * V[None, None, :])).sum(axis=2)


def policy_evaluation(P, R, policy, gamma: float, tol: float = 1e-10, max_iter: int = 100_000,
                      return_history: bool = False):
    """Iterative policy evaluation: repeat the Bellman backup until V stops changing.

    Starts from V = 0 and stops when max_s |V_new(s) − V(s)| < tol.

    Args:
        P, R: the MDP (or a FiniteMDP as P and R=None).
        policy: shape (S, A) probabilities or (S,) integer actions.
        gamma: discount in [0, 1]; with γ = 1 the policy must reach a terminal state.
        tol: stopping threshold on the largest change.
        max_iter: give up (ValueError) after this many sweeps.
        return_history: also return the list of the largest changes, one per sweep.

    Returns:
        V of shape (S,), and the history if asked for.
    """
    mdp = as_mdp(P, R)
    gamma = _check_gamma(gamma)
    tol = _check_positive("tol", tol)
    max_iter = _check_positive("max_iter", max_iter, integer=True)
    pi = policy_matrix(policy, mdp.n_states, mdp.n_actions)
    V = np.zeros(mdp.n_states)
    deltas = []
    for _ in range(max_iter):
        V_new = bellman_backup(mdp, None, V, pi, gamma)
        deltas.append(float(np.max(np.abs(V_new - V))))
        V = V_new
        if deltas[-1] < tol:
            return (V, deltas) if return_history else V
    raise ValueError(f"policy evaluation did not converge within max_iter={max_iter} sweeps "
                     f"(last change {deltas[-1]:.3g}); with gamma=1 the policy must reach a terminal state")


def policy_evaluation_exact(P, R, policy, gamma: float) -> np.ndarray:
    """Exact policy evaluation: solve the linear Bellman system (I − γ P_π) V = r_π.

    Terminal states are fixed at V = 0 and left out of the system, so γ = 1 works when the
    policy reaches a terminal state for sure.

    Returns:
        V, shape (S,).
    """
    mdp = as_mdp(P, R)
    gamma = _check_gamma(gamma)
    pi = policy_matrix(policy, mdp.n_states, mdp.n_actions)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)  # (S, S): P_π(s'|s)
    r_pi = (pi * mdp.expected_reward()).sum(axis=1)  # (S,)
    keep = ~mdp.terminal
    V = np.zeros(mdp.n_states)
    A = np.eye(keep.sum()) - gamma * P_pi[np.ix_(keep, keep)]
    try:
        V[keep] = np.linalg.solve(A, r_pi[keep])
    except np.linalg.LinAlgError:
        raise ValueError("the Bellman system is singular: with gamma=1 the policy must reach a "
                         "terminal state from every state") from None
    return V


def greedy_policy(Q: np.ndarray) -> np.ndarray:
    """The deterministic policy argmax_a Q(s, a) (ties go to the lowest action), shape (S,)."""
    Q = check_finite_array("Q", Q, nonempty=False)
    if Q.ndim != 2 or Q.shape[1] < 1:
        raise ValueError(f"Q must have shape (S, A) with A >= 1, got shape {Q.shape}")
    return np.argmax(Q, axis=1)


def value_iteration(P, R, gamma: float, tol: float = 1e-10, max_iter: int = 100_000,
                    return_history: bool = False):
    """Value iteration: V ← max_a Σ_s' P(s'|s,a)[R(s,a,s') + γ V(s')] until it stops changing.

    Args:
        P, R: the MDP (or a FiniteMDP as P and R=None).
        gamma: discount in [0, 1].
        tol: stop when the largest change of a sweep is below tol.
        max_iter: give up (ValueError) after this many sweeps.
        return_history: also return the value estimates after every sweep, shape (n+1, S),
            starting with V = 0 (for plotting convergence).

    Returns:
        (V, policy): V of shape (S,), the greedy policy of shape (S,) (integer actions);
        and the history as a third item if asked for.
    """
    mdp = as_mdp(P, R)
    gamma = _check_gamma(gamma)
    tol = _check_positive("tol", tol)
    max_iter = _check_positive("max_iter", max_iter, integer=True)
    V = np.zeros(mdp.n_states)
    history = [V]
    for _ in range(max_iter):
        V_new = q_from_v(mdp, None, V, gamma).max(axis=1)  # the Bellman optimality backup
        history.append(V_new)
        done = np.max(np.abs(V_new - V)) < tol
        V = V_new
        if done:
            policy = greedy_policy(q_from_v(mdp, None, V, gamma))
            return (V, policy, np.array(history)) if return_history else (V, policy)
    raise ValueError(f"value iteration did not converge within max_iter={max_iter} sweeps; "
                     "with gamma=1 every policy must reach a terminal state")


def two_state_example() -> FiniteMDP:
    """The two-state MDP notebook 01 solves on paper.

    In state 0, action 0 ("stay") pays +1 and stays; action 1 ("go") pays 0 and moves to
    state 1. In state 1 both actions pay +3 and return to state 0. Staying is worth
    1/(1−γ); going back and forth is worth 3γ/(1−γ²) from state 0, which is more exactly
    when γ > 1/2.
    """
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0
    P[0, 1, 1] = 1.0
    P[1, :, 0] = 1.0
    R = np.zeros((2, 2, 2))
    R[0, 0, 0] = 1.0
    R[1, :, 0] = 3.0
    return FiniteMDP(P, R)


def token_mdp(vocab: Sequence[str], max_len: int, reward, eos: str = ".") -> tuple[FiniteMDP, list[str]]:
    """Text generation as an MDP (notebook 01): state = the text so far, action = the next token.

    The transition is deterministic (append the token). An episode ends when ``eos`` is
    chosen or the text reaches ``max_len`` tokens; only then is a reward paid, ``reward(text)``
    for the finished text, as with an outcome reward in RLHF or GRPO. Finished texts all lead
    to one absorbing terminal state, named "<end>".

    Args:
        vocab: the tokens (single characters or strings); must contain ``eos``.
        max_len: longest text, in tokens (1 to 8).
        reward: function of the finished text returning a number.
        eos: the end-of-sequence token.

    Returns:
        (mdp, states): states[i] is the text of state i ("" is the prompt's start).
    """
    vocab = list(vocab)
    if len(vocab) < 2 or len(set(vocab)) != len(vocab) or eos not in vocab:
        raise ValueError(f"vocab must hold at least 2 distinct tokens including eos={eos!r}, got {vocab!r}")
    try:
        max_len = check_int_in_range("max_len", max_len, 1, 8)
    except ValueError:
        raise ValueError(f"max_len must be an integer from 1 to 8, got {max_len!r}") from None
    if not callable(reward):
        raise ValueError(f"reward must be a function of the finished text, got {type(reward).__name__}")
    words = [t for t in vocab if t != eos]
    prefixes, layer = [()], [()]
    for _ in range(max_len - 1):  # unfinished texts of 1 .. max_len-1 tokens, as token tuples
        layer = [p + (w,) for p in layer for w in words]
        prefixes += layer
    index = {p: i for i, p in enumerate(prefixes)}
    states = ["".join(p) for p in prefixes]
    S, A, end = len(prefixes) + 1, len(vocab), len(prefixes)
    P, R = np.zeros((S, A, S)), np.zeros((S, A, S))
    for s, prefix in enumerate(prefixes):
        for a, tok in enumerate(vocab):
            new = prefix + (tok,)
            if tok == eos or len(new) >= max_len:  # finished: the reward arrives now
                P[s, a, end] = 1.0
                text = "".join(new)
                r = reward(text)
                r = float(r) if isinstance(r, (bool, np.bool_)) else r  # a pass/fail reward counts 1/0
                R[s, a, end] = check_finite_number(f"reward({text!r})", r)
            else:  # deterministic: append the token
                P[s, a, index[new]] = 1.0
    P[end, :, end] = 1.0
    terminal = np.zeros(S, dtype=bool)
    terminal[end] = True
    return FiniteMDP(P, R, terminal=terminal), states + ["<end>"]


def greedy_text(mdp: FiniteMDP, states: list[str], policy, vocab: Sequence[str]) -> str:
    """The text a deterministic policy writes from the empty prompt in a ``token_mdp``."""
    policy = policy_matrix(policy, mdp.n_states, len(vocab)).argmax(axis=1)
    s, text = 0, ""
    for _ in range(mdp.n_states):
        if mdp.terminal[s]:
            return text
        a = int(policy[s])
        text += vocab[a]
        s = int(np.argmax(mdp.P[s, a]))
    return text


def from_toy_text(env) -> FiniteMDP:
    """The exact MDP of a gymnasium toy-text environment (FrozenLake, CliffWalking, Taxi).

    Reads the environment's own transition table ``env.unwrapped.P[s][a] = [(p, s', r, done)]``.
    A transition that ends the episode goes to an extra absorbing terminal state (index S),
    so the returned MDP has S + 1 states.
    """
    table = getattr(getattr(env, "unwrapped", env), "P", None)
    if not isinstance(table, dict):
        raise ValueError("env must be a gymnasium toy-text environment with a transition table env.unwrapped.P")
    S, A = len(table), len(table[0])
    P, R = np.zeros((S + 1, A, S + 1)), np.zeros((S + 1, A, S + 1))
    for s in range(S):
        for a in range(A):
            for p, s2, r, done in table[s][a]:
                target = S if done else s2
                # a state reached by several outcomes gets their probability-weighted reward
                R[s, a, target] = (R[s, a, target] * P[s, a, target] + p * r) / max(P[s, a, target] + p, 1e-300)
                P[s, a, target] += p
    P[S, :, S] = 1.0
    terminal = np.zeros(S + 1, dtype=bool)
    terminal[S] = True
    return FiniteMDP(P, R, terminal=terminal)
