"""Exercises of notebook 01 (MDPs and discounted return)."""
from __future__ import annotations

import numpy as np

from ...mdp import discounted_returns
from ..registry import Case, Exercise, Mistake, register


def _returns_cases() -> list[Case]:
    rng = np.random.default_rng(2024)
    cases = [
        Case((np.array([1.0, 2.0, 3.0]), 0.5), label="rewards=[1, 2, 3], gamma=0.5"),
        Case((np.array([0.0, 0.0, 1.0]), 0.9), label="rewards=[0, 0, 1], gamma=0.9"),
        Case((np.array([1.0, 1.0, 1.0, 1.0]), 1.0), label="rewards=[1, 1, 1, 1], gamma=1.0"),
        Case((np.array([2.0, -1.0, 4.0]), 0.0), label="rewards=[2, -1, 4], gamma=0.0"),
        Case((np.array([1.0, 1.0, 1.0, 1.0]), 0.5, np.array([False, True, False, False])),
             label="rewards=[1, 1, 1, 1], gamma=0.5, dones=[F, T, F, F] (an episode ends at step 1)"),
        Case((np.array([5.0]), 0.9), label="a single reward: rewards=[5], gamma=0.9"),
    ]
    for _ in range(6):  # random sequences, several episodes each
        T = int(rng.integers(5, 15))
        rewards = np.round(rng.normal(size=T), 2)
        dones = rng.random(T) < 0.25
        gamma = float(rng.choice([0.5, 0.9, 0.99]))
        cases.append(Case((rewards, gamma, dones)))
    return cases


def teaching_discounted_returns(rewards, gamma, dones=None):
    """G_t = r_t + γ·G_{t+1} for every step, backwards; the sum stops where an episode ends.

    rewards: (T,); dones: optional (T,) booleans, True where an episode ends at that step.
    Returns an array of shape (T,).
    """
    import numpy as np
    rewards = np.asarray(rewards, dtype=float)
    dones = np.zeros(len(rewards), dtype=bool) if dones is None else np.asarray(dones, dtype=bool)
    returns = np.zeros(len(rewards))
    future = 0.0  # G_{t+1}: 0 beyond the last step
    for t in reversed(range(len(rewards))):
        if dones[t]:  # the episode ended at step t: nothing after it counts
            future = 0.0
        future = rewards[t] + gamma * future
        returns[t] = future
    return returns


# The common mistakes, each written the way a learner would write it (never with the library).

def _summed_forwards(rewards, gamma, dones=None):
    rewards = np.asarray(rewards, dtype=float)
    dones = np.zeros(len(rewards), bool) if dones is None else np.asarray(dones, bool)
    out, running = np.zeros(len(rewards)), 0.0
    for t in range(len(rewards)):  # front to back: sums the past, not the future
        running = rewards[t] + gamma * running
        out[t] = running
        if dones[t]:
            running = 0.0
    return out


def _discounts_first_reward(rewards, gamma, dones=None):
    # G_t = Σ_k γ^(k+1) r_{t+k}: the first reward is discounted too
    return gamma * teaching_discounted_returns(rewards, gamma, dones)


def _ignores_dones(rewards, gamma, dones=None):
    return teaching_discounted_returns(rewards, gamma, None)


def _reset_one_step_late(rewards, gamma, dones=None):
    # resets the running return after using it at the end step, instead of before
    rewards = np.asarray(rewards, dtype=float)
    dones = np.zeros(len(rewards), bool) if dones is None else np.asarray(dones, bool)
    out, future = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        future = rewards[t] + gamma * future
        out[t] = future
        if dones[t]:
            future = 0.0
    return out


def _reset_after_adding(rewards, gamma, dones=None):
    # backwards, but zeroes the running return after adding r_t at an end step: G_t comes out 0
    rewards = np.asarray(rewards, dtype=float)
    dones = np.zeros(len(rewards), bool) if dones is None else np.asarray(dones, bool)
    out, future = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        future = rewards[t] + gamma * future
        if dones[t]:
            future = 0.0
        out[t] = future
    return out


def _undiscounted(rewards, gamma, dones=None):
    return teaching_discounted_returns(rewards, 1.0, dones)


def _discount_by_absolute_time(rewards, gamma, dones=None):
    # weights γ^t counted from the start of the sequence, not from step t
    rewards = np.asarray(rewards, dtype=float)
    dones = np.zeros(len(rewards), bool) if dones is None else np.asarray(dones, bool)
    out = np.zeros(len(rewards))
    for t in range(len(rewards)):
        total = 0.0
        for k in range(t, len(rewards)):
            total += gamma**k * rewards[k]
            if dones[k]:
                break
        out[t] = total
    return out


def _only_first_return(rewards, gamma, dones=None):
    return teaching_discounted_returns(rewards, gamma, dones)[:1]


register(Exercise(
    name="discounted_returns",
    reference=discounted_returns,
    cases=_returns_cases,
    signature="discounted_returns(rewards, gamma, dones=None)",
    notebook="00_welcome",
    library=("course_lib.mdp:discounted_returns", "course_lib.policy_gradient:reward_to_go"),
    teaching=teaching_discounted_returns,
    hint="The return from step t is this step's reward plus γ times the return from step t + 1 on, and "
         "nothing after an episode's end counts (where dones[t] is true, G_t = r_t). Work the failing case "
         "shown above by hand and compare it with your output, entry by entry.",
    formula="G_t = r_t + γ·G_{t+1}, computed from the last step backwards; G_{t+1} counts as 0 beyond the "
            "last step and where dones[t] is true (the episode ended at step t, so G_t = r_t).",
    code_hint="future = 0.0, then `for t in reversed(range(len(rewards))):` — if dones[t]: future = 0.0; "
              "then future = rewards[t] + gamma * future and returns[t] = future (returns = np.zeros(len(rewards)) "
              "made beforehand).",
    mistakes=(
        Mistake("summed_forwards", _summed_forwards,
                "You accumulated from the first step forwards, which sums the past rewards. The return "
                "G_t looks ahead: loop t from the last step down to 0 and use G_t = r_t + γ·G_{t+1}."),
        Mistake("discounts_first_reward", _discounts_first_reward,
                "Every value is γ times too small: the reward at step t itself is not discounted "
                "(its weight is γ⁰ = 1). G_t = r_t + γ·r_{t+1} + γ²·r_{t+2} + ..."),
        Mistake("ignores_dones", _ignores_dones,
                "Your returns flow across episode boundaries. Where dones[t] is true the episode ended "
                "at step t, so G_t = r_t: reset the running return to 0 before adding r_t."),
        Mistake("reset_too_late", _reset_one_step_late,
                "At an episode end you still add γ·G_{t+1} from the next episode. Reset the running "
                "return to 0 *before* computing G_t at a step where dones[t] is true."),
        Mistake("reset_after_adding", _reset_after_adding,
                "Where dones[t] is true your G_t is 0: you zeroed the running return *after* adding r_t, "
                "so the episode's last reward is lost. Reset it to 0 *before* adding r_t: at an episode's "
                "last step G_t = r_t."),
        Mistake("undiscounted", _undiscounted,
                "You summed the rewards without discounting: multiply the future return by gamma "
                "at every step back (G_t = r_t + γ·G_{t+1})."),
        Mistake("discount_by_absolute_time", _discount_by_absolute_time,
                "You weighted r_k by γ^k counted from the start of the sequence. From step t the weight "
                "of r_k is γ^(k − t): discounting restarts at every step."),
        Mistake("only_first_return", _only_first_return,
                "You returned only G_0. The exercise wants the return-to-go for every step: an array "
                "with one value per reward."),
    ),
))


# ---------------------------------------------------------------------------------------------
# The Bellman backup (one sweep of policy evaluation) and value iteration
# ---------------------------------------------------------------------------------------------

from ...mdp import bellman_backup, two_state_example, value_iteration  # noqa: E402


def _random_mdp(rng, S, A):
    P = rng.dirichlet(np.ones(S) * 0.7, size=(S, A))  # (S, A, S), rows sum to 1
    R = np.round(rng.normal(size=(S, A, S)), 2)
    return P, R


def _two_state_mdp():
    mdp = two_state_example()  # stay (+1) or go to state 1, which pays +3 on the way back
    return mdp.P, mdp.R


def _backup_cases() -> list[Case]:
    rng = np.random.default_rng(11)
    P2, R2 = _two_state_mdp()
    cases = [Case((P2, R2, np.array([1.0, 2.0]), np.array([[0.5, 0.5], [1.0, 0.0]]), 0.5),
                  label="the two-state MDP of the notebook, V=[1, 2], π(·|0)=[0.5, 0.5], gamma=0.5")]
    for _ in range(5):
        S, A = int(rng.integers(3, 7)), int(rng.integers(2, 4))
        P, R = _random_mdp(rng, S, A)
        V = np.round(rng.normal(size=S) * 3, 2)
        pi = rng.dirichlet(np.ones(A), size=S)
        cases.append(Case((P, R, V, pi, float(rng.choice([0.5, 0.9, 0.99])))))
    return cases


def teaching_bellman_backup(P, R, V, policy, gamma):
    """One sweep of policy evaluation: V_new(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) [R(s,a,s') + γ V(s')].

    P, R: (S, A, S); V: (S,); policy: (S, A) probabilities. Returns V_new of shape (S,).
    """
    Q = (P * (R + gamma * V[None, None, :])).sum(axis=2)  # Q(s, a): expected over next states s'
    return (policy * Q).sum(axis=1)  # expected over the policy's actions


def _backup_forgets_gamma(P, R, V, policy, gamma):
    return teaching_bellman_backup(P, R, V, policy, 1.0)


def _backup_ignores_policy(P, R, V, policy, gamma):
    Q = (P * (R + gamma * V[None, None, :])).sum(axis=2)
    return Q.mean(axis=1)  # every action weighted equally


def _backup_max_over_actions(P, R, V, policy, gamma):
    return (P * (R + gamma * V[None, None, :])).sum(axis=2).max(axis=1)


def _backup_from_current_state(P, R, V, policy, gamma):
    Q = (P * (R + gamma * V[:, None, None])).sum(axis=2)  # V(s) where V(s') belongs
    return (policy * Q).sum(axis=1)


def _backup_discounts_reward(P, R, V, policy, gamma):
    Q = (P * gamma * (R + V[None, None, :])).sum(axis=2)
    return (policy * Q).sum(axis=1)


def _backup_ignores_transitions(P, R, V, policy, gamma):
    Q = (R + gamma * V[None, None, :]).mean(axis=2)  # every next state equally likely
    return (policy * Q).sum(axis=1)


register(Exercise(
    name="bellman_backup",
    reference=bellman_backup,
    cases=_backup_cases,
    signature="bellman_backup(P, R, V, policy, gamma)",
    notebook="01_mdp_and_discounted_return",
    library=("course_lib.mdp:bellman_backup", "course_lib.mdp:q_from_v", "course_lib.mdp:policy_evaluation",
             "course_lib.mdp:policy_evaluation_exact"),
    teaching=teaching_bellman_backup,
    hint="A state's new value averages over two kinds of chance: which action the policy picks, and where "
         "the environment then sends you. Each outcome is worth its reward plus the discounted value of "
         "where you land.",
    formula="For every state s: V_new(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) [R(s,a,s') + γ V(s')]. "
            "P and R have shape (S, A, S), V shape (S,), policy shape (S, A).",
    code_hint="With broadcasting: Q = (P * (R + gamma * V[None, None, :])).sum(axis=2) is Q(s, a), shape (S, A); "
              "then weight it by the policy and sum over the actions: (policy * Q).sum(axis=1).",
    mistakes=(
        Mistake("forgets_gamma", _backup_forgets_gamma,
                "The next state's value must be discounted: use R(s,a,s') + γ·V(s'), not R + V(s')."),
        Mistake("ignores_policy", _backup_ignores_policy,
                "You averaged over the actions equally. Weight each action by the policy's "
                "probability π(a|s) = policy[s, a]."),
        Mistake("max_over_actions", _backup_max_over_actions,
                "You took the max over actions: that is the Bellman *optimality* backup of value "
                "iteration. Policy evaluation averages over actions with the policy's probabilities."),
        Mistake("bootstraps_from_current_state", _backup_from_current_state,
                "The value added to the reward is that of the next state s' (V[s'], indexed by the "
                "last axis of P), not of the current state s."),
        Mistake("discounts_reward", _backup_discounts_reward,
                "Only the future value is discounted: R(s,a,s') + γ·V(s'), not γ·(R + V(s'))."),
        Mistake("ignores_transition_probs", _backup_ignores_transitions,
                "You averaged over next states equally. Weight each next state s' by P(s'|s,a) = P[s, a, s']."),
    ),
))


def _vi_cases() -> list[Case]:
    rng = np.random.default_rng(12)
    P2, R2 = _two_state_mdp()
    cases = [Case((P2, R2, 0.4, 1e-10), label="the two-state MDP of the notebook, gamma=0.4, tol=1e-10"),
             Case((P2, R2, 0.9, 1e-10), label="the two-state MDP of the notebook, gamma=0.9, tol=1e-10")]
    for _ in range(4):
        S, A = int(rng.integers(3, 7)), int(rng.integers(2, 4))
        P, R = _random_mdp(rng, S, A)
        cases.append(Case((P, R, float(rng.choice([0.5, 0.8, 0.9])), 1e-10)))
    return cases


def teaching_value_iteration(P, R, gamma, tol):
    """Repeat the Bellman optimality backup until no value moves by tol; act greedily on the result.

    P, R: (S, A, S). Returns (V of shape (S,), the greedy policy: integer actions of shape (S,)).
    """
    import numpy as np
    V = np.zeros(P.shape[0])
    while True:
        Q = (P * (R + gamma * V[None, None, :])).sum(axis=2)  # (S, A)
        V_new = Q.max(axis=1)  # act optimally from here on
        change = np.max(np.abs(V_new - V))
        V = V_new
        if change < tol:
            break
    Q = (P * (R + gamma * V[None, None, :])).sum(axis=2)
    return V, Q.argmax(axis=1)


def _vi_reference(P, R, gamma, tol):
    return value_iteration(P, R, gamma, tol=tol)


def _vi_generic(P, R, gamma, tol, backup, greedy=None, sweeps=None):
    V = np.zeros(P.shape[0])
    n = 0
    while True:
        Q = backup(P, R, V, gamma)
        V_new = Q.max(axis=1) if greedy is None else greedy(Q)
        n += 1
        change = np.max(np.abs(V_new - V))
        V = V_new
        if change < tol or (sweeps is not None and n >= sweeps) or n > 100_000:
            break
    return V, Q


def _q(P, R, V, gamma):
    return (P * (R + gamma * V[None, None, :])).sum(axis=2)


def _vi_uses_min(P, R, gamma, tol):
    V = np.zeros(P.shape[0])
    for _ in range(100_000):
        V_new = _q(P, R, V, gamma).min(axis=1)
        done = np.max(np.abs(V_new - V)) < tol
        V = V_new
        if done:
            break
    return V, np.argmin(_q(P, R, V, gamma), axis=1)


def _vi_one_sweep(P, R, gamma, tol):
    Q = _q(P, R, np.zeros(P.shape[0]), gamma)
    return Q.max(axis=1), np.argmax(Q, axis=1)


def _vi_discounts_reward(P, R, gamma, tol):
    V = np.zeros(P.shape[0])
    for _ in range(100_000):
        Q = (P * gamma * (R + V[None, None, :])).sum(axis=2)
        V_new = Q.max(axis=1)
        done = np.max(np.abs(V_new - V)) < tol
        V = V_new
        if done:
            break
    Q = (P * gamma * (R + V[None, None, :])).sum(axis=2)
    return V, np.argmax(Q, axis=1)


def _vi_policy_ignores_reward(P, R, gamma, tol):
    V, _ = teaching_value_iteration(P, R, gamma, tol)
    return V, np.argmax((P * V[None, None, :]).sum(axis=2), axis=1)  # best expected next value only


register(Exercise(
    name="value_iteration",
    reference=_vi_reference,
    cases=_vi_cases,
    signature="value_iteration(P, R, gamma, tol) -> (V, policy)",
    notebook="01_mdp_and_discounted_return",
    library=("course_lib.mdp:value_iteration", "course_lib.mdp:q_from_v"),
    teaching=teaching_value_iteration,
    hint="Repeat a backup that assumes you act *optimally* from the next step on (the best action, not an "
         "average over a policy) until the values stop changing; then act greedily on those values.",
    formula="Start from V = 0; repeat Q(s,a) = Σ_s' P(s'|s,a)[R(s,a,s') + γ V(s')], V_new(s) = max_a Q(s,a) "
            "until max |V_new − V| < tol; return V and the greedy policy argmax_a Q(s,a) (integer actions).",
    code_hint="V = np.zeros(P.shape[0]); in a `while True:` loop: Q = (P * (R + gamma * V[None, None, :])).sum(axis=2), "
              "V_new = Q.max(axis=1), change = np.max(np.abs(V_new - V)), V = V_new, break when change < tol. "
              "Then recompute Q from the final V and return V, Q.argmax(axis=1).",
    mistakes=(
        Mistake("uses_min", _vi_uses_min,
                "You took the minimum over actions: the optimal value is the *maximum* "
                "(max_a Q(s,a)), and the policy picks argmax, not argmin."),
        Mistake("one_sweep", _vi_one_sweep,
                "You stopped after one sweep. Repeat the backup until the largest change "
                "max_s |V_new(s) − V(s)| falls below tol (a while loop)."),
        Mistake("discounts_reward", _vi_discounts_reward,
                "Only the future value is discounted: Q(s,a) = Σ_s' P(s'|s,a)[R(s,a,s') + γ·V(s')], "
                "not γ·(R + V)."),
        Mistake("policy_ignores_reward", _vi_policy_ignores_reward,
                "Your values are right but the policy is not: the greedy action maximises "
                "Q(s,a) = Σ_s' P(s'|s,a)[R(s,a,s') + γ V(s')], reward included, not just the next value."),
    ),
))


# ---------------------------------------------------------------------------------------------
# policy_evaluation(P, R, policy, gamma, tol): repeat the backup until V stops changing
# ---------------------------------------------------------------------------------------------

from ...mdp import policy_evaluation as _library_policy_evaluation  # noqa: E402


def _evaluation_cases() -> list[Case]:
    rng = np.random.default_rng(12)
    P2, R2 = _two_state_mdp()
    cases = [
        Case((P2, R2, np.array([[0.5, 0.5], [1.0, 0.0]]), 0.9, 1e-8),
             label="the two-state MDP of the notebook, π(·|0)=[0.5, 0.5], π(·|1)=[1, 0], gamma=0.9, tol=1e-8"),
        Case((P2, R2, np.array([[0.0, 1.0], [1.0, 0.0]]), 0.5, 1e-8),
             label="the two-state MDP, always 'go' from state 0, gamma=0.5, tol=1e-8"),
    ]
    for gamma in (0.5, 0.9, 0.95, 0.8):
        S, A = int(rng.integers(3, 7)), int(rng.integers(2, 4))
        P, R = _random_mdp(rng, S, A)
        pi = rng.dirichlet(np.ones(A), size=S)
        cases.append(Case((P, R, pi, gamma, 1e-8), label=f"a random MDP with {S} states, {A} actions, "
                                                           f"a stochastic policy, gamma={gamma}, tol=1e-8"))
    return cases


def teaching_policy_evaluation(P, R, policy, gamma, tol):
    """Iterative policy evaluation: from V = 0, repeat the Bellman backup until max_s |ΔV| < tol.

    P, R: (S, A, S); policy: (S, A) probabilities; returns V^π of shape (S,).
    """
    import numpy as np
    V = np.zeros(P.shape[0])
    while True:
        Q = (P * (R + gamma * V[None, None, :])).sum(axis=2)  # (S, A): one step, then V of where it lands
        V_new = (policy * Q).sum(axis=1)  # averaged over the policy's actions
        if np.max(np.abs(V_new - V)) < tol:  # a sweep shrinks the error by at least a factor γ
            return V_new
        V = V_new


def _eval_sweeps(P, R, policy, gamma, tol, n):
    V = np.zeros(P.shape[0])
    for _ in range(n):
        V = (policy * (P * (R + gamma * V[None, None, :])).sum(axis=2)).sum(axis=1)
    return V


def _eval_until(P, R, policy, gamma, tol, backup):
    V = np.zeros(P.shape[0])
    for _ in range(100_000):
        V_new = backup(V)
        if np.max(np.abs(V_new - V)) < tol:
            return V_new
        V = V_new
    return V


def _eval_single_sweep(P, R, policy, gamma, tol):
    return _eval_sweeps(P, R, policy, gamma, tol, 1)


def _eval_fixed_sweeps(P, R, policy, gamma, tol):
    return _eval_sweeps(P, R, policy, gamma, tol, 10)


def _eval_max_over_actions(P, R, policy, gamma, tol):
    return _eval_until(P, R, policy, gamma, tol,
                       lambda V: (P * (R + gamma * V[None, None, :])).sum(axis=2).max(axis=1))


def _eval_ignores_policy(P, R, policy, gamma, tol):
    return _eval_until(P, R, policy, gamma, tol,
                       lambda V: (P * (R + gamma * V[None, None, :])).sum(axis=2).mean(axis=1))


def _eval_discounts_reward(P, R, policy, gamma, tol):
    return _eval_until(P, R, policy, gamma, tol,  # γ·(R + V(s')): the immediate reward discounted too
                       lambda V: (policy * (P * gamma * (R + V[None, None, :])).sum(axis=2)).sum(axis=1))


def _eval_current_state_value(P, R, policy, gamma, tol):
    return _eval_until(P, R, policy, gamma, tol,
                       lambda V: (policy * (P * (R + gamma * V[:, None, None])).sum(axis=2)).sum(axis=1))


register(Exercise(
    name="policy_evaluation",
    reference=_library_policy_evaluation,
    cases=_evaluation_cases,
    signature="policy_evaluation(P, R, policy, gamma, tol) -> array of shape (S,)",
    notebook="01_mdp_and_discounted_return",
    library=("course_lib.mdp:policy_evaluation", "course_lib.mdp:policy_evaluation_exact",
             "course_lib.mdp:bellman_backup", "course_lib.mdp:q_from_v"),
    teaching=teaching_policy_evaluation,
    rtol=1e-6,
    atol=1e-6,  # any stopping rule at tol = 1e-8 lands this close to V^π
    hint="V^π is the fixed point of the Bellman backup for π: start from V = 0, apply the backup again and "
         "again, and stop when a sweep no longer changes V by more than tol. If you do that already, check "
         "one sweep by hand on the two-state MDP against the formula (hint 2): which term is discounted?",
    formula="V_0 = 0; V_{k+1}(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) [R(s,a,s') + γ V_k(s')]; stop when "
            "max_s |V_{k+1}(s) − V_k(s)| < tol and return V_{k+1}. Each sweep shrinks the error by at least γ.",
    code_hint="V = np.zeros(P.shape[0]); loop: V_new = your backup (Q = (P * (R + gamma * V[None, None, :])).sum(2); "
              "V_new = (policy * Q).sum(1)); if np.max(np.abs(V_new - V)) < tol: return V_new; else V = V_new.",
    mistakes=(
        Mistake("single_sweep", _eval_single_sweep,
                "You applied the backup once. From V = 0 one sweep gives only the expected immediate reward; "
                "repeat the sweep until V stops changing (max |V_new − V| < tol)."),
        Mistake("fixed_number_of_sweeps", _eval_fixed_sweeps,
                "Your V is close but not converged: it looks like a fixed number of sweeps. Loop until the "
                "largest change of a sweep is below tol; with γ near 1 that takes many sweeps."),
        Mistake("max_over_actions", _eval_max_over_actions,
                "You took the best action in every state: that is value iteration (V*), not the value of the "
                "given policy. Average over actions with the policy's probabilities π(a|s)."),
        Mistake("ignores_policy", _eval_ignores_policy,
                "You weighted every action equally, whatever the policy. Weight each action by π(a|s), "
                "the given policy's probability of it."),
        Mistake("discounts_reward", _eval_discounts_reward,
                "Your loop converges, but to the wrong values: you discounted the immediate reward too, "
                "γ·(R + V(s')). Only the future is discounted: R(s,a,s') + γ·V(s'); the reward of this "
                "step counts in full."),
        Mistake("current_state_value", _eval_current_state_value,
                "Your backup adds γ·V(s) of the current state. The future is the value of the *next* state: "
                "Σ_s' P(s'|s,a) [R(s,a,s') + γ V(s')]."),
    ),
))
