"""kl_penalized_rewards (notebook 07): mistakes learners make, written as a learner would (not as the
catalogue writes them), each get their own hint; the reference and solution() still pass."""
from __future__ import annotations

import torch

from course_lib.exercises import check, get_exercise, solution


def _last(mask):
    return mask.shape[1] - 1 - mask.bool().flip(1).long().argmax(1)


def test_score_one_column_after_the_last_real_token():
    def kl_penalized_rewards(logp, logp_ref, score, mask, beta):
        r = -beta * (logp - logp_ref) * mask
        B, T = mask.shape
        for b in range(B):
            last = int(mask[b].nonzero()[-1])
            r[b, last + 1] += score[b]  # one past: the first padding column, or past the end
        return r

    result = check("kl_penalized_rewards", kl_penalized_rewards)
    assert result.status == "error" and result.mistake == "score_after_last", result.text()
    assert "one column after the last real token" in result.hint


def test_penalty_on_the_probability_ratio():
    def kl_penalized_rewards(logp, logp_ref, score, mask, beta):
        ratio = (logp - logp_ref).exp()
        r = -beta * ratio * mask
        r[torch.arange(len(score)), _last(mask)] += score
        return r

    result = check("kl_penalized_rewards", kl_penalized_rewards)
    assert result.mistake == "ratio_penalty", result.text()
    assert "on its log" in result.hint


def test_whole_completion_kl_on_the_last_token():
    def kl_penalized_rewards(logp, logp_ref, score, mask, beta):
        kl = ((logp - logp_ref) * mask).sum(dim=1)
        r = torch.zeros_like(logp)
        r[torch.arange(len(score)), _last(mask)] = score - beta * kl
        return r

    result = check("kl_penalized_rewards", kl_penalized_rewards)
    assert result.mistake == "kl_on_last_token", result.text()
    assert "same total" in result.hint and "per token" in result.hint


def test_beta_dividing_instead_of_multiplying():
    def kl_penalized_rewards(logp, logp_ref, score, mask, beta):
        r = -(logp - logp_ref) / beta
        r = r * mask
        r[torch.arange(len(score)), _last(mask)] += score
        return r

    result = check("kl_penalized_rewards", kl_penalized_rewards)
    assert result.mistake == "beta_divides", result.text()
    assert "divided by beta" in result.hint


def test_the_reference_and_the_solution_still_pass():
    ex = get_exercise("kl_penalized_rewards")
    assert check("kl_penalized_rewards", ex.teaching).passed  # the teaching answer equals the reference
    namespace: dict = {}
    exec(solution("kl_penalized_rewards").source, namespace)  # pasted alone into a fresh namespace
    fn = next(v for k, v in namespace.items() if callable(v) and k.endswith("kl_penalized_rewards"))
    result = check("kl_penalized_rewards", fn)
    assert result.passed, result.text()
