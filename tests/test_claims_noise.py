"""The claims registry of ``python -m course_lib run``: every measured figure carries a tolerance
derived from its noise (a Wilson interval or the spread over seeds), the summary prints it, and a
figure just inside the tolerance passes while one just outside fails."""
from __future__ import annotations

import nbformat
import pytest

from course_lib import stats
from course_lib.grading import headless
from course_lib.grading.headless import Claim


def _nb(cell_id: str, text: str):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("...")
    cell.id = cell_id
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells = [cell]
    return nb


@pytest.mark.parametrize("claim", headless.CLAIMS, ids=lambda c: f"{c.notebook}:{c.what[:30]}")
def test_every_claim_says_where_its_tolerance_comes_from(claim):
    assert claim.noise, (f"{claim.what!r} does not say where its tolerance comes from: build it with "
                         "Claim.accuracy or Claim.over_seeds, or give a threshold its noise=")
    if claim.kind == "close":
        assert claim.tolerance > 0


def test_an_accuracy_claims_tolerance_is_its_wilson_interval():
    c = Claim.accuracy("08", "acc", "x", r"acc ([\d.]+)%", 78.2, 500, "r")
    iv = stats.accuracy_interval(391, 500)
    far = 100 * max(iv.estimate - iv.low, iv.high - iv.estimate)
    assert far <= c.tolerance < far + 0.1
    assert "Wilson" in c.noise and "500 problems" in c.noise
    # fewer problems, wider interval
    assert Claim.accuracy("08", "acc", "x", "p", 78.0, 100, "r").tolerance > c.tolerance


def test_a_claim_just_inside_passes_and_just_outside_fails():
    c = Claim.accuracy("08", "acc", "a1", r"acc ([\d.]+)%", 43.2, 500, "r")
    assert c.judge(43.2 + c.tolerance - 0.05) and c.judge(43.2 - c.tolerance + 0.05)
    assert not c.judge(43.2 + c.tolerance + 0.05) and not c.judge(43.2 - c.tolerance - 0.05)


def test_the_summary_prints_the_tolerance_and_its_source(monkeypatch):
    c = Claim.accuracy("08", "acc", "a1", r"acc ([\d.]+)%", 43.2, 500, "r")
    monkeypatch.setattr(headless, "CLAIMS", (c,))
    inside = f"acc {43.2 + c.tolerance - 0.1:.1f}%\n"
    outside = f"acc {43.2 + c.tolerance + 0.1:.1f}%\n"
    ok = headless.read_claims(_nb("a1", inside), "08", "full")[0]
    bad = headless.read_claims(_nb("a1", outside), "08", "full")[0]
    assert ok["verdict"].startswith("ok (43.2 ± ") and "Wilson interval on 500 problems" in ok["verdict"]
    assert bad["verdict"].startswith("FAILED: ") and "outside 43.2 ± " in bad["verdict"]
    assert ok["noise"] == c.noise


def test_a_multi_seed_claims_tolerance_is_the_prediction_interval_of_one_more_seed():
    values = (78.2, 79.4, 79.6)
    c = Claim.over_seeds("08", "acc", "x", "p", values, "r")
    sp = stats.seed_spread(values)
    half = stats.t_quantile(2) * sp.std * (1 + 1 / 3) ** 0.5
    assert c.expected == pytest.approx(sp.mean, abs=0.05) and half <= c.tolerance < half + 0.1
    assert "3 seeds" in c.noise
    assert c.judge(c.expected + c.tolerance - 0.01) and not c.judge(c.expected + c.tolerance + 0.01)
    with pytest.raises(ValueError, match="at least 3 seeds"):
        Claim.over_seeds("08", "acc", "x", "p", (1.0, 2.0), "r")


def test_a_malformed_claim_is_refused():
    with pytest.raises(ValueError, match="tolerance"):
        Claim("08", "acc", "x", "p", 43.2, "r", tolerance=-1.0)
    with pytest.raises(ValueError, match="kind"):
        Claim("08", "acc", "x", "p", 43.2, "r", kind="near")
