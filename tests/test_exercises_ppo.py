"""The PPO exercises: the reference passes, and every registered mistake earns its own hint."""
from __future__ import annotations

import numpy as np
import torch

from course_lib.exercises import check, get_exercise, list_exercises

PPO_EXERCISES = ("gae", "clipped_surrogate")


def test_ppo_exercises_are_registered():
    names = list_exercises()
    for name in PPO_EXERCISES:
        assert name in names
        assert get_exercise(name).notebook == "04_ppo_cartpole"


def test_required_hints_are_covered():
    gae_mistakes = {m.name for m in get_exercise("gae").mistakes}
    assert {"sign_error", "ignores_episode_ends", "bootstraps_through_termination"} <= gae_mistakes
    surr_mistakes = {m.name for m in get_exercise("clipped_surrogate").mistakes}
    assert {"sign_error", "max_instead_of_min", "clips_advantage"} <= surr_mistakes


def test_a_learner_solution_in_plain_python_passes():
    def my_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        adv = [0.0] * len(rewards)
        running = 0.0
        for t in reversed(range(len(rewards))):
            not_term = 0.0 if terminated[t] else 1.0
            not_done = 0.0 if (terminated[t] or truncated[t]) else 1.0
            delta = rewards[t] + gamma * next_values[t] * not_term - values[t]
            running = delta + gamma * lam * not_done * running
            adv[t] = running
        adv = np.array(adv)
        return adv, adv + np.asarray(values)

    def my_surrogate(ratio, adv, eps):
        return -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv).mean()

    assert check("gae", my_gae).passed
    assert check("clipped_surrogate", my_surrogate).passed


def test_unattempted_and_broken_answers_do_not_crash():
    def stub(ratio, adv, eps):
        raise NotImplementedError

    assert check("clipped_surrogate", stub).status == "not attempted"

    def broken(ratio, adv, eps):
        return ratio.nonexistent

    assert check("clipped_surrogate", broken).status == "error"
