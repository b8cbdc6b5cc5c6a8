"""How noisy a measurement is: the interval of an accuracy, the spread over seeds, and whether a
difference between two measurements is outside the noise.

A course about measuring RL must say how much of a gap is noise. On 500 held-out problems one answer
is 0.2 points and the standard error of an accuracy near 40 % is about 2.2 points; two runs that differ
by 2 points have not been told apart. Every comparison the notebooks draw goes through these functions.

- ``accuracy_interval(correct, n)``: the Wilson score interval of a binomial proportion (Wilson 1927;
  Agresti & Coull 1998 recommend it over the textbook ``p ± z·se``, which breaks near 0 and 1).
- ``seed_spread(values)``: mean, standard deviation, range and a t interval of the mean over seeds.
- ``compare_accuracies(a, n_a, b, n_b)``: the difference of two accuracies measured on independent
  samples, with Newcombe's (1998) interval built from the two Wilson intervals.
- ``compare_paired(correct_a, correct_b)``: two models scored on the *same* problems; only the problems
  they disagree on carry information (McNemar), so the interval is narrower than the unpaired one.
- ``compare_seeds(a, b)``: two settings each run on several seeds (Welch's t interval of the difference
  of the means).

Each comparison returns a ``Difference`` whose ``outside_noise`` is True only when its interval excludes 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

from .core import check_finite_array, check_finite_number, check_nonnegative_int, check_positive_int
from .i18n import message_format

__all__ = ["Interval", "Spread", "Difference", "standard_error", "accuracy_interval", "seed_spread",
           "compare_accuracies", "compare_paired", "compare_seeds", "t_quantile"]


# The words of every line this module prints (key -> English template; ``message_format`` shows the learner's
# language, see course_lib.i18n). The numbers are formatted before they are filled in, so a translation
# carries the very same figures.
_TEXTS = {
    "stats.interval": "{estimate} % (95 % CI {low}–{high}, n = {n})",
    "stats.interval.level": "{estimate} % ({level} % CI {low}–{high}, n = {n})",
    "stats.spread": "{mean} ± {std} (range {min}–{max}, {n} seeds)",
    "stats.verdict.outside": "{gap}{unit} ({level} % CI {low} to {high}): outside the noise",
    "stats.verdict.within": "{gap}{unit} ({level} % CI {low} to {high}): within the noise",
}
# The units the course passes to ``Difference.verdict`` (English unit -> key); any other unit is shown as given.
_UNITS = {" points": "stats.unit.points", " steps": "stats.unit.steps", " steps/s": "stats.unit.steps_per_s",
          " thousandths of a nat": "stats.unit.millinats"}


def english_messages() -> dict[str, str]:
    """Every message key of this module with its current English (see ``course_lib.i18n.MESSAGE_SOURCES``)."""
    return {**_TEXTS, **{key: unit for unit, key in _UNITS.items()}}


def _say(key: str, **fields) -> str:
    return message_format(key, _TEXTS[key], **fields)


def _z(level: float) -> float:
    level = check_finite_number("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    return NormalDist().inv_cdf(0.5 + level / 2)


# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom (any statistics table).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def t_quantile(df: float, level: float = 0.95) -> float:
    """The two-sided critical value of Student's t with ``df`` degrees of freedom.

    Exact (to three decimals) at ``level=0.95`` for df ≤ 30, a Cornish–Fisher expansion of the normal
    quantile otherwise (error below 0.01 for df ≥ 3).
    """
    df = check_finite_number("df", df, low=0.0, low_open=True)
    z = _z(level)
    if abs(level - 0.95) < 1e-12 and df <= 30 and float(df).is_integer():
        return _T95[int(df) - 1]
    # Cornish-Fisher (Abramowitz & Stegun 26.7.5)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval, all as fractions (0.43, not 43)."""
    estimate: float
    low: float
    high: float
    se: float       # standard error of the estimate
    n: int          # how many problems (or seeds) it rests on
    level: float = 0.95

    def __str__(self) -> str:
        return _say("stats.interval" if self.level == 0.95 else "stats.interval.level",
                    estimate=f"{100 * self.estimate:.1f}", level=f"{100 * self.level:g}",
                    low=f"{100 * self.low:.1f}", high=f"{100 * self.high:.1f}", n=self.n)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Spread:
    """Several seeds of one setting: mean, standard deviation (n − 1), range, and a t interval of the mean."""
    mean: float
    std: float
    min: float
    max: float
    n: int
    low: float
    high: float

    def __str__(self) -> str:
        return _say("stats.spread", mean=f"{self.mean:.3g}", std=f"{self.std:.2g}", min=f"{self.min:.3g}",
                    max=f"{self.max:.3g}", n=self.n)


@dataclass(frozen=True)
class Difference:
    """b − a with its interval; ``outside_noise`` is True only when the interval excludes 0."""
    diff: float
    low: float
    high: float
    level: float
    method: str

    @property
    def outside_noise(self) -> bool:
        return self.low > 0 or self.high < 0

    def verdict(self, unit: str = " points", scale: float = 100.0) -> str:
        """One line a notebook can print: the gap, its interval, and whether it is outside the noise."""
        shown = message_format(_UNITS[unit], unit) if unit in _UNITS else unit
        return _say("stats.verdict.outside" if self.outside_noise else "stats.verdict.within",
                    gap=f"{scale * self.diff:+.1f}", unit=shown, level=f"{100 * self.level:g}",
                    low=f"{scale * self.low:+.1f}", high=f"{scale * self.high:+.1f}")


def standard_error(p: float, n: int) -> float:
    """sqrt(p(1 − p)/n): the standard error of an accuracy ``p`` measured on ``n`` problems."""
    p = check_finite_number("p", p, low=0.0, high=1.0)
    n = check_positive_int("n", n)
    return math.sqrt(p * (1 - p) / n)


def accuracy_interval(correct: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval of ``correct`` successes in ``n`` trials.

    Args:
        correct: how many problems were answered correctly (0 ≤ correct ≤ n).
        n: how many problems were scored (> 0).
        level: confidence level, 0 < level < 1.
    """
    n = check_positive_int("n", n)
    correct = check_nonnegative_int("correct", correct)
    if correct > n:
        raise ValueError(f"correct must be at most n = {n}, got {correct}")
    z = _z(level)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if correct == 0 else max(0.0, centre - half)   # exact ends: rounding leaves 1e-17 there
    high = 1.0 if correct == n else min(1.0, centre + half)
    return Interval(p, low, high, math.sqrt(p * (1 - p) / n), n, level)


def seed_spread(values: Sequence[float], level: float = 0.95) -> Spread:
    """Mean, sample standard deviation, range and t interval of one measurement over several seeds."""
    x = check_finite_array("values", np.asarray(values, dtype=float), ndim=1)
    if x.size == 0:
        raise ValueError("values must hold at least one seed's measurement, got an empty sequence")
    mean = float(x.mean())
    if x.size == 1:
        return Spread(mean, float("nan"), mean, mean, 1, float("-inf"), float("inf"))
    std = float(x.std(ddof=1))
    half = t_quantile(x.size - 1, level) * std / math.sqrt(x.size)
    return Spread(mean, std, float(x.min()), float(x.max()), int(x.size), mean - half, mean + half)


def compare_accuracies(correct_a: int, n_a: int, correct_b: int, n_b: int, level: float = 0.95) -> Difference:
    """b − a for two accuracies measured on independent samples (Newcombe 1998, method 10)."""
    a = accuracy_interval(correct_a, n_a, level)
    b = accuracy_interval(correct_b, n_b, level)
    d = b.estimate - a.estimate
    low = d - math.sqrt((b.estimate - b.low) ** 2 + (a.high - a.estimate) ** 2)
    high = d + math.sqrt((b.high - b.estimate) ** 2 + (a.estimate - a.low) ** 2)
    return Difference(d, low, high, level, "Newcombe (independent samples)")


def compare_paired(correct_a: Sequence[bool], correct_b: Sequence[bool], level: float = 0.95) -> Difference:
    """b − a for two models scored on the same problems (per-problem right/wrong, same order).

    Only the discordant problems (right for one, wrong for the other) inform the difference; its
    standard error is sqrt(n01 + n10 − (n01 − n10)²/n)/n (the normal form of McNemar's test).
    """
    a = np.asarray(correct_a)
    b = np.asarray(correct_b)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must be 1-D and of the same length, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("correct_a must hold at least one problem, got an empty sequence")
    for name, x in (("correct_a", a), ("correct_b", b)):
        if not np.isin(x, (0, 1, True, False)).all():
            raise ValueError(f"{name} must hold only right/wrong (True/False or 1/0) per problem")
    a = a.astype(bool)
    b = b.astype(bool)
    n = a.size
    n10 = int((a & ~b).sum())   # right before, wrong after
    n01 = int((~a & b).sum())   # wrong before, right after
    d = (n01 - n10) / n
    se = math.sqrt(max(n01 + n10 - (n01 - n10) ** 2 / n, 0.0)) / n
    z = _z(level)
    return Difference(d, d - z * se, d + z * se, level, f"paired on {n} problems ({n01} gained, {n10} lost)")


def compare_seeds(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """mean(b) − mean(a) over seeds, with Welch's t interval (needs at least 2 seeds on each side)."""
    xa = check_finite_array("a", np.asarray(a, dtype=float), ndim=1)
    xb = check_finite_array("b", np.asarray(b, dtype=float), ndim=1)
    if xa.size < 2 or xb.size < 2:
        raise ValueError(f"a and b need at least 2 seeds each to estimate their noise, got {xa.size} and {xb.size}")
    va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
    d = float(xb.mean() - xa.mean())
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Difference(d, d, d, level, "Welch (no spread)")
    df = (va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))
    half = t_quantile(df if df > 30 else max(1, round(df)), level) * se
    return Difference(d, d - half, d + half, level, f"Welch, {xa.size} and {xb.size} seeds")
