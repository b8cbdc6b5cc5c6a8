"""Exercises of notebook 09 (pitfalls and fixes): the unbiased pass@k estimator and majority voting."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ...pitfalls.verify import majority_vote, pass_at_k
from ..registry import Case, Exercise, Mistake, register

# ---------------------------------------------------------------------------------------------
# pass_at_k(n, c, k) = 1 − C(n − c, k) / C(n, k)   (Chen et al. 2021, arXiv 2107.03374 §2.1)
# ---------------------------------------------------------------------------------------------


def _pass_cases() -> list[Case]:
    cases = [
        Case((10, 3, 1), label="n=10, c=3, k=1 (pass@1 is c/n)"),
        Case((10, 3, 5), label="n=10, c=3, k=5"),
        Case((5, 0, 2), label="n=5, c=0, k=2 (nothing correct)"),
        Case((4, 4, 2), label="n=4, c=4, k=2 (everything correct)"),
        Case((6, 4, 3), label="n=6, c=4, k=3 (only 2 wrong samples: every 3 of them hold a correct one)"),
        Case((64, 1, 64), label="n=64, c=1, k=64"),
    ]
    rng = np.random.default_rng(909)
    for _ in range(6):
        n = int(rng.integers(2, 200))
        c, k = int(rng.integers(1, n)), int(rng.integers(2, n + 1))
        cases.append(Case((n, c, k)))
    # many samples, as in Chen et al.'s n = 200 and beyond: C(2000, 1000) has 601 digits, past any float
    cases.append(Case((2000, 3, 1000), label="n=2000, c=3, k=1000 (C(2000, 1000) ≈ 2e600: larger than any float)"))
    return cases


def teaching_pass_at_k(n, c, k):
    """1 − C(n−c, k)/C(n, k): one minus the chance that k samples drawn without replacement are all wrong."""
    import math
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)  # math.comb(a, k) is 0 when a < k


def _pass_naive(n, c, k):
    return 1.0 - (1.0 - c / n) ** k  # k independent draws with replacement at rate c/n


def _pass_all_correct(n, c, k):
    return math.comb(c, k) / math.comb(n, k)  # the chance that all k are correct


def _pass_forgot_complement(n, c, k):
    return math.comb(n - c, k) / math.comb(n, k)  # the chance that all k are wrong


def _pass_off_by_one(n, c, k):
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c, n + 1)))  # one factor too many


def _pass_float_comb(n, c, k):
    return 1.0 - float(math.comb(n - c, k)) / float(math.comb(n, k))  # OverflowError past ~1.8e308


def _pass_union_bound(n, c, k):
    return min(1.0, k * c / n)


register(Exercise(
    name="pass_at_k",
    reference=pass_at_k,
    cases=_pass_cases,
    signature="pass_at_k(n, c, k) -> float",
    notebook="09_pitfalls_and_fixes",
    library=("course_lib.pitfalls.verify:pass_at_k", "course_lib.pitfalls.verify:pass_at_k_naive",
             "course_lib.pitfalls.verify:mean_pass_at_k"),
    teaching=teaching_pass_at_k,
    formula="pass@k = 1 − C(n − c, k) / C(n, k): of the C(n, k) ways to pick k of the n samples, C(n − c, k) "
            "pick only wrong ones. Equivalently 1 − Π_{i=n−c+1}^{n} (1 − k/i).",
    code_hint="import math; return 1.0 - math.comb(n - c, k) / math.comb(n, k)",
    rtol=1e-6,
    atol=1e-9,
    hint="pass@k asks: if I drew k of my n samples (without putting any back), how likely is at least one "
         "correct? Count the k-subsets that hold no correct sample.",
    mistakes=(
        Mistake("naive", _pass_naive,
                "You used 1 − (1 − c/n)^k: k independent draws at the rate c/n, as if sampling with "
                "replacement. Averaged over experiments it is biased low (Chen et al. 2021 §2.1); count "
                "subsets of the n samples instead: 1 − C(n−c, k)/C(n, k)."),
        Mistake("all_correct", _pass_all_correct,
                "You computed the chance that all k samples are correct, C(c, k)/C(n, k). pass@k needs at "
                "least one correct: one minus the chance that all k are wrong, which uses C(n − c, k)."),
        Mistake("forgot_complement", _pass_forgot_complement,
                "C(n − c, k)/C(n, k) is the chance that all k samples are wrong: pass@k is one minus it."),
        Mistake("off_by_one", _pass_off_by_one,
                "Your product has one factor too many: it runs over i = n − c + 1 … n (c factors), not from n − c."),
        Mistake("float_comb", _pass_float_comb,
                "Your formula is right, but you turned the binomials into floats: math.comb is an exact "
                "integer, and C(2000, 1000) has about 600 digits, far past the largest float (about "
                "1.8e308), so float(...) overflows. Divide the two integers directly, math.comb(n − c, k) / "
                "math.comb(n, k) (Python rounds the exact ratio once), or use the product "
                "1 − Π_{i=n−c+1}^{n} (1 − k/i) (Chen et al. 2021 §2.1).",
                error=r"OverflowError: int too large to convert to float"),
        Mistake("union_bound", _pass_union_bound,
                "min(1, k·c/n) adds the chances of k draws as if they could not overlap (a union bound). "
                "Count the k-subsets with no correct sample instead."),
    ),
))

# ---------------------------------------------------------------------------------------------
# majority_vote(answers): the most frequent parsable answer; ties to the first seen; None if none
# ---------------------------------------------------------------------------------------------


def _vote_cases() -> list[Case]:
    cases = [
        Case(([12, 12, 7],), label="answers=[12, 12, 7]"),
        Case(([None, None, 5],), label="answers=[None, None, 5] (two unparsable answers)"),
        Case(([None, None],), label="answers=[None, None] (nothing parsable)"),
        Case(([3, 9, 9, 3],), label="answers=[3, 9, 9, 3] (a tie: the first seen wins)"),
        Case(([40, 8, None, 8, 40],), label="answers=[40, 8, None, 8, 40] (a tie between 40 and 8)"),
    ]
    rng = np.random.default_rng(910)
    for _ in range(6):
        n = int(rng.integers(3, 16))
        row = [None if rng.random() < 0.25 else int(rng.integers(0, 5)) for _ in range(n)]
        cases.append(Case((row,)))
    return cases


def teaching_majority_vote(answers):
    """The most frequent answer that is not None; on a tie, the one seen first; None when there is none."""
    from collections import Counter
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    for a in answers:
        if a is not None and counts[a] == best:
            return a


def _compare_vote(got, expected):
    if got == expected and type(got) is type(expected):
        return None
    return f"expected {expected!r}, got {got!r}"


def _vote_counts_none(answers):
    counts = Counter(answers)  # None is counted as an answer
    best = max(counts.values())
    return next(a for a in answers if counts[a] == best)


def _vote_tie_largest(answers):
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    return max(counts, key=lambda a: (counts[a], a))


def _vote_tie_last(answers):
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return [a for a in answers if a is not None and counts[a] == best][-1]


def _vote_zero_when_empty(answers):
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return 0
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


register(Exercise(
    name="majority_vote",
    reference=majority_vote,
    cases=_vote_cases,
    signature="majority_vote(answers) -> the answer, or None",
    notebook="09_pitfalls_and_fixes",
    library=("course_lib.pitfalls.verify:majority_vote", "course_lib.pitfalls.verify:maj_at_k"),
    teaching=teaching_majority_vote,
    compare=_compare_vote,
    formula="Count each answer that is not None; return the one with the highest count; on a tie the one "
            "that appears first in the list; with no answer left, return None.",
    code_hint="counts = collections.Counter(a for a in answers if a is not None); then scan answers in order "
              "for the first a with counts[a] == max(counts.values()).",
    hint="Self-consistency (Wang et al. 2022): the answer many samples agree on is more often right. An "
         "unparsable sample is not a vote, and a tie needs a rule so the result is reproducible.",
    mistakes=(
        Mistake("counts_none", _vote_counts_none,
                "You counted unparsable answers (None) as votes: when most samples break the format you "
                "answer None although some sample gave a number. Skip None when counting."),
        Mistake("tie_largest", _vote_tie_largest,
                "On a tie you return the largest answer. The rule is the tied answer seen first in the list."),
        Mistake("tie_last", _vote_tie_last,
                "On a tie you return the tied answer seen last. The rule is the one seen first."),
        Mistake("zero_when_empty", _vote_zero_when_empty,
                "With no parsable answer you return 0, which could be a real answer (and would be graded "
                "right for 5-5=). Return None."),
    ),
))
