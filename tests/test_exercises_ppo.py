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


def test_ppo_minibatch_loss_mistakes_cover_ratio_value_sign_clip_and_normalisation():
    names = {m.name for m in get_exercise("ppo_minibatch_loss").mistakes}
    assert {"ratio_not_exp", "value_loss_sign", "no_clip", "advantages_not_normalised",
            "returns_not_detached"} <= names


def test_ppo_minibatch_loss_equals_what_train_ppo_computes_on_a_minibatch():
    # the reference is train_ppo's own minibatch loss (course_lib.ppo.train, manual_grad=False)
    from course_lib.ppo import clipped_surrogate, value_loss

    ex = get_exercise("ppo_minibatch_loss")
    for case in ex.cases():
        logp_new, logp_old, adv, values, returns, eps, vf_coef = case.args
        ad = (adv - adv.mean()) / (adv.std() + 1e-8)
        expected = clipped_surrogate(torch.exp(logp_new - logp_old), ad, eps) + vf_coef * value_loss(values, returns)
        assert torch.allclose(ex.reference(*case.args), expected)


def test_a_learner_ppo_minibatch_loss_written_with_the_learners_own_surrogate_passes():
    def my_surrogate(ratio, adv, eps):
        return -torch.minimum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()

    def learner(logp_new, logp_old, adv, values, returns, eps, vf_coef):
        with torch.no_grad():
            a = (adv - adv.mean()) / (adv.std() + 1e-8)
            target = returns.clone()
        ratio = (logp_new - logp_old.detach()).exp()
        return my_surrogate(ratio, a, eps) + vf_coef * torch.nn.functional.mse_loss(values, target)

    assert check("ppo_minibatch_loss", learner).passed


def test_a_ppo_minibatch_loss_that_normalises_adv_in_place_fails():
    ex = get_exercise("ppo_minibatch_loss")

    def in_place(logp_new, logp_old, adv, values, returns, eps, vf_coef):
        with torch.no_grad():
            adv -= adv.mean()
        return ex.teaching(logp_new, logp_old, adv, values, returns, eps, vf_coef)

    assert not check("ppo_minibatch_loss", in_place).passed
