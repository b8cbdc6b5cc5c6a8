"""Mistakes learners make, written as a learner would (not as the catalogue writes them): each
gets its own hint, and two mistakes at once get one verdict that names both."""
from __future__ import annotations

import math

import numpy as np
import torch

from course_lib.exercises import check, get_exercise


def test_policy_evaluation_with_a_discounted_reward_is_told_so_not_to_sweep_more():
    def policy_evaluation(P, R, policy, gamma, tol):
        V = np.zeros(P.shape[0])
        while True:  # iterated to convergence: "one sweep is not enough" would point the wrong way
            V_new = (policy * (P * gamma * (R + V[None, None, :])).sum(axis=2)).sum(axis=1)
            if np.max(np.abs(V_new - V)) < tol:
                return V_new
            V = V_new

    result = check("policy_evaluation", policy_evaluation)
    assert result.mistake == "discounts_reward", result.text()
    assert "one sweep is not enough" not in get_exercise("policy_evaluation").hint.lower()


def test_backward_returns_that_reset_after_adding_the_reward_are_told_so():
    def discounted_returns(rewards, gamma, dones=None):
        G, out = 0.0, [0.0] * len(rewards)
        for t in range(len(rewards) - 1, -1, -1):  # backwards: "which end first?" would not help
            G = rewards[t] + gamma * G
            if dones is not None and dones[t]:
                G = 0.0
            out[t] = G
        return out

    result = check("discounted_returns", discounted_returns)
    assert result.mistake == "reset_after_adding", result.text()
    assert "which end" not in get_exercise("discounted_returns").hint.lower()


def test_half_mse_in_the_ppo_minibatch_loss():
    def ppo_minibatch_loss(logp_new, logp_old, adv, values, returns, eps, vf_coef):
        a = adv.detach()
        a = (a - a.mean()) / (a.std() + 1e-8)
        ratio = torch.exp(logp_new - logp_old.detach())
        surr = torch.min(ratio * a, torch.clamp(ratio, 1 - eps, 1 + eps) * a)
        return -surr.mean() + vf_coef * 0.5 * ((values - returns.detach()) ** 2).mean()

    result = check("ppo_minibatch_loss", ppo_minibatch_loss)
    assert result.mistake == "half_mse", result.text()


def test_float_binomials_overflow_in_pass_at_k_and_get_their_hint():
    def pass_at_k(n, c, k):
        return 1.0 - float(math.comb(n - c, k)) / float(math.comb(n, k))

    result = check("pass_at_k", pass_at_k)
    assert result.status == "error" and result.mistake == "float_comb", result.text()
    assert "math.comb(n − c, k) / math.comb(n, k)" in result.hint


def _grpo_multiplied(logp, logp_old, logp_ref, adv, mask, eps, beta, token_mean=False):
    ratio = torch.exp(logp - logp_old.detach())
    A = adv.detach()[:, None]
    surr = torch.min(ratio * A, torch.clamp(ratio, 1 - eps, 1 + eps) * A)
    x = logp_ref.detach() - logp
    per_token = -(surr - beta * (torch.exp(x) - x - 1))
    if token_mean:
        return (per_token * mask).sum() / mask.sum()
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()  # the mask multiplied after the exp


def test_grpo_loss_and_kl_k3_apply_the_same_padding_rule():
    # padding holding -inf or NaN: a multiplied mask fails both checks, with the same advice
    def kl_k3(logp, logp_ref, mask):
        x = logp_ref - logp
        return (torch.exp(x) - x - 1) * mask

    kl = check("kl_k3", kl_k3)
    loss = check("grpo_loss", _grpo_multiplied)
    assert kl.mistake == "mask_after_exp" and loss.mistake == "mask_multiplied", (kl.text(), loss.text())
    for result in (kl, loss):
        assert "0 · inf and 0 · NaN are NaN" in result.hint and "torch.where(mask.bool()" in result.hint


def test_two_mistakes_at_once_get_one_verdict_naming_both():
    def kl_flipped(logp, logp_ref, mask):
        x = logp - logp_ref  # flipped ratio, and the mask multiplied after the exp
        return (torch.exp(x) - x - 1) * mask

    def kl_k1(logp, logp_ref, mask):
        return (logp - logp_ref) * mask

    for fn, name in ((kl_flipped, "reversed+mask_after_exp"), (kl_k1, "k1_log_ratio+mask_after_exp")):
        result = check("kl_k3", fn)
        assert result.mistake == name, result.text()
        assert result.hint.startswith("Two things to fix.") and "NaN" in result.hint
    result = check("grpo_loss", lambda *a: _grpo_multiplied(*a, token_mean=True))
    assert result.mistake == "token_mean+multiplied", result.text()
    assert "DAPO" in result.hint and "0 · inf" in result.hint
