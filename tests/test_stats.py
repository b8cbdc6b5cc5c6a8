"""course_lib.stats: intervals worked by hand, properties, and the errors bad input gets."""
import math

import numpy as np
import pytest

from course_lib import stats


def test_wilson_interval_matches_hand_computation():
    # 200 of 500: p = 0.4, z = 1.95996; centre = (0.4 + z²/1000)/(1 + z²/500), half as in Wilson (1927)
    iv = stats.accuracy_interval(200, 500)
    z = 1.959963984540054
    centre = (0.4 + z * z / 1000) / (1 + z * z / 500)
    half = z * math.sqrt(0.4 * 0.6 / 500 + z * z / (4 * 500 * 500)) / (1 + z * z / 500)
    assert iv.low == pytest.approx(centre - half) and iv.high == pytest.approx(centre + half)
    assert iv.se == pytest.approx(math.sqrt(0.24 / 500))  # about 2.2 points, the figure the course quotes
    assert 0.021 < iv.se < 0.023
    assert str(iv) == "40.0 % (95 % CI 35.8–44.4, n = 500)"


def test_wilson_interval_stays_inside_0_1_and_narrows_with_n():
    assert stats.accuracy_interval(0, 10).low == 0.0
    assert stats.accuracy_interval(10, 10).high == 1.0
    assert stats.accuracy_interval(0, 10).high > 0  # never the degenerate [0, 0] of p ± z·se
    w100 = stats.accuracy_interval(40, 100).half_width
    w500 = stats.accuracy_interval(200, 500).half_width
    assert w500 < w100 and w100 / w500 == pytest.approx(math.sqrt(5), rel=0.05)


def test_compare_accuracies_calls_a_two_point_gap_on_500_noise_and_twenty_points_a_finding():
    assert not stats.compare_accuracies(200, 500, 210, 500).outside_noise
    d = stats.compare_accuracies(200, 500, 300, 500)
    assert d.outside_noise and d.diff == pytest.approx(0.2)
    assert "outside the noise" in d.verdict() and "+20.0 points" in d.verdict()
    assert "within the noise" in stats.compare_accuracies(200, 500, 210, 500).verdict()


def test_paired_comparison_counts_only_the_problems_the_two_disagree_on():
    a = np.array([1] * 50 + [0] * 50, bool)
    b = a.copy()
    assert stats.compare_paired(a, b).diff == 0 and not stats.compare_paired(a, b).outside_noise
    b[50:80] = True  # 30 gained, none lost
    d = stats.compare_paired(a, b)
    assert d.diff == pytest.approx(0.3) and d.outside_noise and "30 gained, 0 lost" in d.method
    # the paired interval is narrower than the unpaired one for the same two accuracies
    assert d.high - d.low < stats.compare_accuracies(50, 100, 80, 100).high - stats.compare_accuracies(50, 100, 80, 100).low


def test_seed_spread_and_compare_seeds():
    s = stats.seed_spread([0.40, 0.44, 0.42])
    assert s.mean == pytest.approx(0.42) and s.std == pytest.approx(0.02) and s.n == 3
    assert s.low == pytest.approx(0.42 - 4.303 * 0.02 / math.sqrt(3))
    one = stats.seed_spread([0.5])
    assert one.n == 1 and math.isnan(one.std)  # one seed: an example, no spread
    assert not stats.compare_seeds([0.40, 0.44, 0.42], [0.41, 0.45, 0.43]).outside_noise
    assert stats.compare_seeds([0.40, 0.41, 0.42], [0.60, 0.61, 0.62]).outside_noise


def test_t_quantile_table_and_expansion_agree_near_30():
    assert stats.t_quantile(2) == pytest.approx(4.303)
    assert stats.t_quantile(31) == pytest.approx(2.040, abs=0.002)
    assert stats.t_quantile(1e6) == pytest.approx(1.96, abs=0.001)


@pytest.mark.parametrize("call, match", [
    (lambda: stats.accuracy_interval(6, 5), "correct must be at most n"),
    (lambda: stats.accuracy_interval(-1, 5), "correct"),
    (lambda: stats.accuracy_interval(1, 0), "n must"),
    (lambda: stats.accuracy_interval(1, 5, level=1.0), "level"),
    (lambda: stats.seed_spread([]), "values must not be empty"),
    (lambda: stats.seed_spread([0.1, float("nan")]), "values must contain only finite"),
    (lambda: stats.compare_seeds([0.1], [0.2, 0.3]), "at least 2 seeds"),
    (lambda: stats.compare_paired([1, 0], [1]), "same length"),
    (lambda: stats.compare_paired([1, 2], [1, 0]), "right/wrong"),
    (lambda: stats.standard_error(1.5, 10), "p must"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fast_note_prints_one_line_only_in_fast_mode(monkeypatch, capsys):
    from course_lib import fast_note
    monkeypatch.setenv("COURSE_FAST", "1")
    assert fast_note("40 steps instead of 400") is None  # nothing for Jupyter to echo on a last line
    assert capsys.readouterr().out == "fast mode: 40 steps instead of 400\n"
    monkeypatch.setenv("COURSE_FAST", "0")
    fast_note("40 steps instead of 400")
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="what_differs"):
        fast_note("  ")
