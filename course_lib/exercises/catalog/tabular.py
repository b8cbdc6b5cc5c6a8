"""Exercises of notebook 02 (learning from experience): TD(0), Q-learning, ε-greedy."""
from __future__ import annotations

import numpy as np

from ...tabular import epsilon_greedy_probs, q_learning_update, td0_update
from ..registry import Case, Exercise, Mistake, register

# ---------------------------------------------------------------------------------------------
# TD(0)
# ---------------------------------------------------------------------------------------------


def _td_cases() -> list[Case]:
    rng = np.random.default_rng(21)
    cases = [
        Case((np.array([0.0, 1.0, 2.0]), 0, 1.0, 1, False, 0.5, 0.9),
             label="V=[0, 1, 2], s=0, r=1, s_next=1, terminated=False, alpha=0.5, gamma=0.9"),
        Case((np.array([0.5, 1.0, 2.0]), 1, -1.0, 2, True, 0.1, 0.9),
             label="V=[0.5, 1, 2], s=1, r=-1, s_next=2, terminated=True, alpha=0.1, gamma=0.9"),
    ]
    for i in range(6):
        S = int(rng.integers(3, 8))
        V = np.round(rng.normal(size=S) * 2, 2)
        s, s2 = (int(x) for x in rng.choice(S, size=2, replace=False))
        cases.append(Case((V, s, float(np.round(rng.normal(), 2)), s2, bool(i % 3 == 0),
                           float(rng.choice([0.1, 0.3, 0.5])), float(rng.choice([0.5, 0.9, 0.99])))))
    return cases


def teaching_td0_update(V, s, r, s_next, terminated, alpha, gamma):
    """Move V(s) a step alpha toward the one-step target r + γ·V(s') (just r after a terminal step).

    V: (S,) values; returns a new array, the caller's V unchanged.
    """
    import numpy as np
    V = np.array(V, dtype=float)  # a copy: the caller's V stays as it was
    target = r if terminated else r + gamma * V[s_next]
    V[s] += alpha * (target - V[s])
    return V


def _td_ignores_terminated(V, s, r, s_next, terminated, alpha, gamma):
    return teaching_td0_update(V, s, r, s_next, False, alpha, gamma)


def _td_wrong_sign(V, s, r, s_next, terminated, alpha, gamma):
    V = np.array(V, dtype=float)
    target = r + (0.0 if terminated else gamma * V[s_next])
    V[s] += alpha * (V[s] - target)
    return V


def _td_no_step_size(V, s, r, s_next, terminated, alpha, gamma):
    return teaching_td0_update(V, s, r, s_next, terminated, 1.0, gamma)


def _td_forgets_gamma(V, s, r, s_next, terminated, alpha, gamma):
    return teaching_td0_update(V, s, r, s_next, terminated, alpha, 1.0)


def _td_bootstraps_from_s(V, s, r, s_next, terminated, alpha, gamma):
    return teaching_td0_update(V, s, r, s, terminated, alpha, gamma)


register(Exercise(
    name="td0_update",
    reference=td0_update,
    cases=_td_cases,
    signature="td0_update(V, s, r, s_next, terminated, alpha, gamma) -> new V",
    notebook="02_learning_from_experience",
    library=("course_lib.tabular:td0_update", "course_lib.tabular:_td0_step"),
    teaching=teaching_td0_update,
    hint="TD(0) nudges V(s) toward a one-step guess of the return: the reward just received plus what you "
         "now expect from the next state. α says how far it moves; nothing follows a terminal step.",
    formula="V(s) ← V(s) + α·[r + γ·V(s') − V(s)], with V(s') replaced by 0 when terminated. "
            "Only V[s] changes; return the updated array (a new one: the caller's V stays as it was).",
    code_hint="V = np.array(V, dtype=float) makes the copy; target = r if terminated else r + gamma * V[s_next]; "
              "V[s] += alpha * (target - V[s]); return V.",
    mistakes=(
        Mistake("ignores_terminated", _td_ignores_terminated,
                "After a terminal step nothing follows: the target is just r. Use "
                "r + γ·V(s') only when terminated is False."),
        Mistake("wrong_sign", _td_wrong_sign,
                "Your update moves V(s) away from the target. The TD error is target − V(s): "
                "V(s) += α·(r + γ·V(s') − V(s))."),
        Mistake("no_step_size", _td_no_step_size,
                "You replaced V(s) by the target. TD moves only a step α of the way: "
                "V(s) += α·(target − V(s))."),
        Mistake("forgets_gamma", _td_forgets_gamma,
                "The next state's value must be discounted: target = r + γ·V(s')."),
        Mistake("bootstraps_from_s", _td_bootstraps_from_s,
                "The target bootstraps from the *next* state: r + γ·V[s_next], not V[s]."),
    ),
))

# ---------------------------------------------------------------------------------------------
# Q-learning
# ---------------------------------------------------------------------------------------------


def _q_cases() -> list[Case]:
    rng = np.random.default_rng(22)
    Q0 = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    cases = [
        Case((Q0, 0, 0, 1.0, 1, False, 0.5, 0.9),
             label="Q=[[0, 1], [2, -1], [0.5, 0.5]], s=0, a=0, r=1, s_next=1, terminated=False, "
                   "alpha=0.5, gamma=0.9"),
        Case((Q0, 2, 1, 3.0, 1, True, 0.5, 0.9),
             label="same Q, s=2, a=1, r=3, s_next=1, terminated=True, alpha=0.5, gamma=0.9"),
    ]
    for i in range(6):
        S, A = int(rng.integers(3, 7)), int(rng.integers(2, 5))
        Q = np.round(rng.normal(size=(S, A)) * 2, 2)
        s, s2 = (int(x) for x in rng.choice(S, size=2, replace=False))
        a = int(rng.integers(A))
        Q[s2, a] = Q[s2].min() - 1.0  # the action just taken is not the best one in s'
        cases.append(Case((Q, s, a, float(np.round(rng.normal(), 2)), s2, bool(i % 3 == 0),
                           float(rng.choice([0.1, 0.3, 0.5])), float(rng.choice([0.5, 0.9, 0.99])))))
    return cases


def teaching_q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma):
    """Move Q(s, a) a step alpha toward r + γ·max_a' Q(s', a') (just r after a terminal step).

    Q: (S, A) action values; returns a new array, the caller's Q unchanged.
    """
    import numpy as np
    Q = np.array(Q, dtype=float)  # a copy
    target = r if terminated else r + gamma * Q[s_next].max()  # greedy from s' on: off-policy
    Q[s, a] += alpha * (target - Q[s, a])
    return Q


def _ql_ignores_terminated(Q, s, a, r, s_next, terminated, alpha, gamma):
    return teaching_q_learning_update(Q, s, a, r, s_next, False, alpha, gamma)


def _ql_same_action(Q, s, a, r, s_next, terminated, alpha, gamma):
    Q = np.array(Q, dtype=float)
    target = r + (0.0 if terminated else gamma * Q[s_next, a])
    Q[s, a] += alpha * (target - Q[s, a])
    return Q


def _ql_max_of_current_state(Q, s, a, r, s_next, terminated, alpha, gamma):
    Q = np.array(Q, dtype=float)
    target = r + (0.0 if terminated else gamma * Q[s].max())
    Q[s, a] += alpha * (target - Q[s, a])
    return Q


def _ql_updates_every_action(Q, s, a, r, s_next, terminated, alpha, gamma):
    Q = np.array(Q, dtype=float)
    target = r + (0.0 if terminated else gamma * Q[s_next].max())
    Q[s] += alpha * (target - Q[s])
    return Q


def _ql_forgets_gamma(Q, s, a, r, s_next, terminated, alpha, gamma):
    return teaching_q_learning_update(Q, s, a, r, s_next, terminated, alpha, 1.0)


register(Exercise(
    name="q_learning_update",
    reference=q_learning_update,
    cases=_q_cases,
    signature="q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma) -> new Q",
    notebook="02_learning_from_experience",
    library=("course_lib.tabular:q_learning_update", "course_lib.tabular:sarsa_update",
             "course_lib.tabular:_q_learning_step", "course_lib.tabular:_sarsa_step"),
    teaching=teaching_q_learning_update,
    hint="Like TD(0), but for the value of the action taken, Q(s, a); and the guess of the future assumes "
         "you act greedily from the next state on, whatever action you actually take there.",
    formula="Q(s,a) ← Q(s,a) + α·[r + γ·max_a' Q(s',a') − Q(s,a)], with the max term replaced by 0 "
            "when terminated. Only Q[s, a] changes; return a new array.",
    code_hint="Q = np.array(Q, dtype=float); target = r if terminated else r + gamma * Q[s_next].max(); "
              "Q[s, a] += alpha * (target - Q[s, a]); return Q.",
    mistakes=(
        Mistake("ignores_terminated", _ql_ignores_terminated,
                "After a terminal step nothing follows: the target is just r, with no γ·max Q(s',·) term."),
        Mistake("same_action_in_next_state", _ql_same_action,
                "You bootstrapped from Q(s', a) with the action just taken. Q-learning uses the best "
                "action in the next state: max over a' of Q[s_next, a']."),
        Mistake("max_of_current_state", _ql_max_of_current_state,
                "The max is over the *next* state's actions, Q[s_next], not the current state's Q[s]."),
        Mistake("updates_every_action", _ql_updates_every_action,
                "You changed every action's value in state s. Only the action taken, Q[s, a], is updated."),
        Mistake("forgets_gamma", _ql_forgets_gamma,
                "The bootstrapped value must be discounted: target = r + γ·max_a' Q(s', a')."),
    ),
))

# ---------------------------------------------------------------------------------------------
# ε-greedy
# ---------------------------------------------------------------------------------------------


def _eps_cases() -> list[Case]:
    rng = np.random.default_rng(23)
    cases = [
        Case((np.array([1.0, 3.0, 2.0, 0.0]), 0.2), label="q_values=[1, 3, 2, 0], epsilon=0.2"),
        Case((np.array([0.5, 0.5, 0.0]), 0.3), label="a tie: q_values=[0.5, 0.5, 0], epsilon=0.3"),
        Case((np.array([2.0, -1.0]), 0.0), label="q_values=[2, -1], epsilon=0 (always greedy)"),
        Case((np.array([2.0, -1.0, 0.0]), 1.0), label="q_values=[2, -1, 0], epsilon=1 (uniform)"),
    ]
    for _ in range(4):
        A = int(rng.integers(2, 7))
        cases.append(Case((np.round(rng.normal(size=A), 2), float(rng.choice([0.05, 0.1, 0.5])))))
    return cases


def teaching_epsilon_greedy_probs(q_values, epsilon):
    """π(a) = ε/A for every action, plus (1 − ε)/k for each of the k best (ties share the greedy part).

    q_values: (A,). Returns (A,) probabilities summing to 1.
    """
    import numpy as np
    q = np.asarray(q_values, dtype=float)
    best = q == q.max()
    probs = np.full(len(q), epsilon / len(q))  # exploring: uniform over all A actions
    probs[best] += (1.0 - epsilon) / best.sum()  # exploiting: the greedy action(s)
    return probs


def _eps_only_non_greedy(q_values, epsilon):
    q = np.asarray(q_values, dtype=float)
    p = np.full(len(q), epsilon / (len(q) - 1))
    p[np.argmax(q)] = 1.0 - epsilon
    return p


def _eps_swapped(q_values, epsilon):
    return teaching_epsilon_greedy_probs(q_values, 1.0 - epsilon)


def _eps_ties_to_first(q_values, epsilon):
    q = np.asarray(q_values, dtype=float)
    p = np.full(len(q), epsilon / len(q))
    p[np.argmax(q)] += 1.0 - epsilon
    return p


def _eps_greedy_misses_its_share(q_values, epsilon):
    q = np.asarray(q_values, dtype=float)
    best = q == q.max()
    return np.where(best, (1.0 - epsilon) / best.sum(), epsilon / len(q))


register(Exercise(
    name="epsilon_greedy_probs",
    reference=epsilon_greedy_probs,
    cases=_eps_cases,
    signature="epsilon_greedy_probs(q_values, epsilon) -> probabilities of shape (A,)",
    notebook="02_learning_from_experience",
    library=("course_lib.tabular:epsilon_greedy_probs", "course_lib.tabular:_epsilon_greedy_probs"),
    teaching=teaching_epsilon_greedy_probs,
    hint="ε-greedy mixes two ways of choosing: with probability ε a uniform random action (any of the A, the "
         "best one included), otherwise the greedy one. Add up the ways each action can be chosen.",
    formula="π(a) = ε/A + (1 − ε)/k for each of the k actions with the highest value, π(a) = ε/A for the "
            "others: with probability ε pick uniformly among all A actions, otherwise the greedy action, "
            "the greedy share 1 − ε split evenly among tied best actions.",
    code_hint="q = np.asarray(q_values, dtype=float); best = q == q.max(); probs = np.full(len(q), epsilon / len(q)); "
              "probs[best] += (1 - epsilon) / best.sum(); return probs.",
    mistakes=(
        Mistake("explores_only_non_greedy", _eps_only_non_greedy,
                "Exploration picks uniformly among *all* actions, the greedy one included: each action "
                "gets ε/A and the greedy one gets 1 − ε on top."),
        Mistake("epsilon_swapped", _eps_swapped,
                "ε is the probability of exploring (a uniform random action), not of acting greedily."),
        Mistake("ties_to_first", _eps_ties_to_first,
                "When several actions share the best value, split the greedy share 1 − ε evenly among "
                "them (np.argmax alone always picks the first, which biases exploration)."),
        Mistake("greedy_misses_its_share", _eps_greedy_misses_its_share,
                "Your probabilities do not sum to 1: the greedy action also gets its ε/A share of "
                "exploration, so π(greedy) = 1 − ε + ε/A."),
    ),
))
