"""course_lib.pitfalls.verify: pass@k (unbiased and naive), majority voting, best-of-n, diversity measures."""
import math
from itertools import combinations

import numpy as np
import pytest
import torch

from course_lib.pitfalls import verify
from course_lib.pitfalls.verify import (best_of_n, best_of_n_at_k, distinct_answers, maj_at_k, majority_vote,
                               mean_pass_at_k, pass_at_k, pass_at_k_naive, token_entropy)


@pytest.mark.parametrize("n,c,k,expected", [
    (10, 3, 1, 0.3),  # pass@1 = c/n
    (5, 0, 2, 0.0),
    (4, 4, 2, 1.0),
    (6, 4, 3, 1.0),  # only two wrong samples: every 3-subset holds a correct one
    (4, 1, 2, 0.5),  # C(3,2)/C(4,2) = 3/6
    (5, 2, 2, 1 - 3 / 10),  # C(3,2)/C(5,2)
    (10, 3, 5, 1 - math.comb(7, 5) / math.comb(10, 5)),
])
def test_pass_at_k_hand_cases(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_counts_subsets_without_replacement():
    # brute force: the share of k-subsets of n samples that hold a correct one
    for n, c, k in [(6, 2, 3), (7, 3, 2), (8, 1, 4), (5, 5, 5), (5, 0, 1)]:
        samples = [1] * c + [0] * (n - c)
        subsets = list(combinations(range(n), k))
        brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


def test_pass_at_k_properties():
    n = 40
    for c in range(n + 1):
        vals = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert all(0.0 <= v <= 1.0 for v in vals)
        assert all(b >= a - 1e-12 for a, b in zip(vals, vals[1:])), "pass@k grows with k"
        assert vals[0] == pytest.approx(c / n)
        assert vals[-1] == (1.0 if c > 0 else 0.0)
    for k in (1, 5, 20):  # grows with c
        vals = [pass_at_k(n, c, k) for c in range(n + 1)]
        assert all(b >= a - 1e-12 for a, b in zip(vals, vals[1:]))


def test_naive_estimator_is_biased_and_unbiased_one_is_not():
    # The true pass@k of a problem with success rate p is 1 − (1 − p)^k. Draw n samples many
    # times: the unbiased estimator averages to it, the plug-in 1 − (1 − c/n)^k stays below it.
    rng = np.random.default_rng(0)
    p, n, k, reps = 0.1, 20, 10, 40000
    truth = 1 - (1 - p) ** k
    cs = rng.binomial(n, p, size=reps)
    unbiased = np.mean([pass_at_k(n, int(c), k) for c in cs])
    naive = np.mean([pass_at_k_naive(n, int(c), k) for c in cs])
    se = np.std([pass_at_k(n, int(c), k) for c in cs]) / math.sqrt(reps)
    assert abs(unbiased - truth) < 4 * se
    assert truth - naive > 0.05  # about 0.09 below: the bias is large, not noise
    # and exactly: E[unbiased] over the binomial equals the truth
    exact = sum(math.comb(n, c) * p ** c * (1 - p) ** (n - c) * pass_at_k(n, c, k) for c in range(n + 1))
    assert exact == pytest.approx(truth, abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5)
    assert 0 < pass_at_k(10_000, 3, 7) < 1


@pytest.mark.parametrize("args,name", [((5, 6, 1), "c"), ((5, 2, 6), "k"), ((0, 0, 1), "n"), ((5, -1, 1), "c"),
                                       ((5, 1, 0), "k"), ((5.5, 1, 1), "n"), ((True, 1, 1), "n")])
def test_pass_at_k_bad_input_names_the_argument(args, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        pass_at_k(*args)


def test_mean_pass_at_k():
    assert mean_pass_at_k([0, 4], 4, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 4, 2)


def test_majority_vote():
    assert majority_vote([12, 12, 7]) == 12
    assert majority_vote([None, None, 5]) == 5  # unparsable answers are not votes
    assert majority_vote([None, None]) is None  # defined result: nothing parsable
    assert majority_vote([]) is None
    assert majority_vote([3, 9, 9, 3]) == 3  # tie: the first seen
    assert majority_vote([40, 8, None, 8, 40]) == 40
    with pytest.raises(ValueError, match="answers"):
        majority_vote("123")


def test_maj_at_k_uses_disjoint_groups():
    answers = [[1, 1, 2, 2], [5, None, None, None]]
    truths = [1, 5]
    assert maj_at_k(answers, truths, 1) == pytest.approx(((2 / 4) + (1 / 4)) / 2)
    assert maj_at_k(answers, truths, 2) == pytest.approx((0.5 + 0.5) / 2)  # [1,1] right, [2,2] wrong; [5,None] right
    assert maj_at_k(answers, truths, 4) == pytest.approx((1.0 + 1.0) / 2)  # tie 1 vs 2: first seen
    with pytest.raises(ValueError, match="k"):
        maj_at_k(answers, truths, 5)


def test_best_of_n():
    assert best_of_n(["a", "b", "c"], [0.1, 0.9, 0.9]) == "b"  # first of the tied best
    with pytest.raises(ValueError, match="scores"):
        best_of_n(["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="candidates"):
        best_of_n([], [])
    answers = [[3, 4, 4, 4], [7, 8, 8, 7]]
    truths = [4, 7]
    verifier = [[float(a == t) for a in row] for row, t in zip(answers, truths)]
    # with a perfect verifier best-of-k equals "one of the k is right" over disjoint groups
    assert best_of_n_at_k(answers, verifier, truths, 2) == pytest.approx(1.0)
    assert best_of_n_at_k(answers, verifier, truths, 1) == pytest.approx((3 / 4 + 2 / 4) / 2)
    wrong_rm = [[1.0 - v for v in row] for row in verifier]  # a scorer that prefers wrong answers
    assert best_of_n_at_k(answers, wrong_rm, truths, 4) == 0.0


def test_distinct_answers_and_entropy():
    assert distinct_answers([1, 1, None, 2, None]) == 3
    uniform = torch.zeros(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    assert token_entropy(uniform, mask) == pytest.approx(math.log(4))
    peaked = torch.tensor([[[50.0, 0, 0, 0]]])
    assert token_entropy(peaked, torch.ones(1, 1, dtype=torch.bool)) == pytest.approx(0.0, abs=1e-6)
    # a higher temperature flattens the distribution
    x = torch.randn(1, 2, 5, generator=torch.Generator().manual_seed(0))
    m = torch.ones(1, 2, dtype=torch.bool)
    assert token_entropy(x, m, 2.0) > token_entropy(x, m, 1.0) > token_entropy(x, m, 0.5)
    with pytest.raises(ValueError, match="temperature"):
        token_entropy(x, m, 0.0)


def test_sample_answers_on_the_shipped_model():
    from course_lib import tasks
    from course_lib.lm import load_shipped

    model, tok, _ = load_shipped("sft")
    probs = list(tasks.eval_problems())[:10]
    s = verify.sample_answers(model, tok, probs, 8, temperature=1.0, seed=0)
    again = verify.sample_answers(model, tok, probs, 8, temperature=1.0, seed=0)
    assert s["answers"] == again["answers"]  # seeded
    assert s["correct"].shape == (10, 8)
    assert all(len(row) == 8 for row in s["answers"])
    assert 0 < s["entropy"] < math.log(tok.vocab_size)
    assert np.all((1 <= s["distinct"]) & (s["distinct"] <= 8))
    for row, ok, t in zip(s["answers"], s["correct"], s["truths"]):
        assert [a == t for a in row] == list(ok)
