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


# The common mistakes, each written the way a learner would write it.

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
    return gamma * discounted_returns(rewards, gamma, dones)


def _ignores_dones(rewards, gamma, dones=None):
    return discounted_returns(rewards, gamma, None)


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


def _undiscounted(rewards, gamma, dones=None):
    return discounted_returns(rewards, 1.0, dones)


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
    return discounted_returns(rewards, gamma, dones)[:1]


register(Exercise(
    name="discounted_returns",
    reference=discounted_returns,
    cases=_returns_cases,
    signature="discounted_returns(rewards, gamma, dones=None)",
    notebook="01_mdp_and_discounted_return",
    hint="Go backwards: G_t = r_t + γ·G_{t+1}, with G_{t+1} taken as 0 when dones[t] is true "
         "(the episode ended at step t) and beyond the last step.",
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
