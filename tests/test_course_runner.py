"""``python -m course_lib run``: the claims registry matches the README and the notebooks, unknown
names are refused clearly, and a run executes, times, reads claims and writes its summary."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import headless

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("claim", headless.CLAIMS, ids=lambda c: f"{c.notebook}:{c.what[:30]}")
def test_every_claim_states_a_readme_figure_and_points_at_a_real_cell(claim):
    assert claim.readme in README, f"README no longer says {claim.readme!r}"
    nbs = list((ROOT / "notebooks").glob(f"{claim.notebook}_*.ipynb"))
    assert len(nbs) == 1
    ids = {c.get("id") for c in nbformat.read(nbs[0], as_version=4).cells}
    assert claim.cell in ids, f"{nbs[0].name} has no cell {claim.cell}"


def test_the_readme_syllabus_gives_a_time_for_every_notebook():
    times = headless.readme_times(README)
    for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        number = nb.stem[:2]
        if number in times and times[number]["full"] is not None:
            assert times[number]["fast"] is not None
    assert set(times) >= {f"{n:02d}" for n in range(11)}
    annotated = headless.readme_times("| 09 | x | y | z | w | 1.1 min* | 86 s (load ≈ 9) |\n| 07 | x | y | z | w | not yet built | — |")
    assert annotated == {"09": {"full": pytest.approx(66.0), "fast": 86.0}, "07": {"full": None, "fast": None}}


def test_claims_are_read_from_outputs_and_judged():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("...")
    cell.id = "8202fdba"
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="seed 0: held-out greedy accuracy 43.0% -> 60.0% (+17.0 points)\n")]
    nb.cells = [cell]
    rows = headless.read_claims(nb, "08", "full")
    assert [r["verdict"].split(" ")[0] for r in rows] == ["ok", "FAILED:"] and rows[1]["verdict"].startswith("FAILED: 60 ")
    assert all(r["verdict"] == "not checked in fast mode" for r in headless.read_claims(nb, "08", "fast"))
    assert [r["verdict"] for r in headless.read_claims(nbformat.v4.new_notebook(), "08", "full")] == \
        ["FAILED: cell 8202fdba not found"] * 2


def test_unknown_notebook_name_is_a_clear_message(capsys):
    assert headless.main(["--only", "77", "--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert "no notebook named '77'" in err and "01_mdp_and_discounted_return" in err


def test_a_run_executes_times_and_writes_the_summary(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint('fast' if os.environ.get('COURSE_FAST') else 'full')")]
    nbformat.write(nb, nbs / "01_tiny.ipynb")
    bad = nbformat.v4.new_notebook()
    bad.metadata = nb.metadata
    bad.cells = [nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    nbformat.write(bad, nbs / "02_broken.ipynb")
    summary = headless.run_course(nbs, tmp_path / "out", readme=ROOT / "README.md", echo=lambda *a, **k: None)
    first, second = summary["notebooks"]
    assert first["notebook"] == "01_tiny" and not first["error"] and first["readme_seconds"] == headless.readme_times(README)["01"]["fast"]
    assert "RuntimeError" in second["error"] and not summary["ok"]
    executed = nbformat.read(tmp_path / "out" / "01_tiny.ipynb", as_version=4)
    assert headless.cell_text(executed.cells[0]).strip() == "fast"
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["mode"] == "fast"
    assert "| 01_tiny |" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem[:2])
def test_notebook_header_and_readme_syllabus_state_the_same_times(path):
    stated = headless.readme_times(README)[path.stem[:2]]
    header = headless.header_times(json.loads(path.read_text(encoding="utf-8")))
    assert header, f"{path.name}: its opening cell has no '**Run time** on 2 CPU cores: X in full mode, Y in fast mode'"
    for mode in ("full", "fast"):
        assert headless._fmt(header[mode]) == headless._fmt(stated[mode]), \
            f"{path.name} says {headless._fmt(header[mode])} in {mode} mode, the README {headless._fmt(stated[mode])}"


def _row(number: str) -> str:
    return f"| {number} | [x](x) | teaches | — | 1 | 1.1 min | 9 s* |"


def test_record_writes_one_measurement_into_readme_and_header(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("\n".join(["| # | notebook | teaches | sliders | report § | full mode | fast mode |",
                                 _row("01"), _row("02"), "", "*Full-mode times: old.*", "", "*Fast-mode times: old.*",
                                 ""]), encoding="utf-8")
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for name in ("01_a", "02_b"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# A\n**Run time** on 2 CPU cores: 1.1 min in full mode, 9 s in fast "
                                                  "mode (`COURSE_FAST=1`). Details.")]
        nbformat.write(nb, nbs / f"{name}.ipynb")
    rows = [{"notebook": "01_a", "seconds": 125.0, "error": ""}, {"notebook": "02_b", "seconds": 3.0, "error": "boom"}]
    headless.record_times(rows, "full", readme=readme, notebooks_dir=nbs, load=0.4)
    times = headless.readme_times(readme.read_text(encoding="utf-8"))
    assert times["01"] == {"full": pytest.approx(126.0), "fast": 9.0}  # "2.1 min"
    assert times["02"]["full"] == pytest.approx(66.0)  # a failed notebook is not recorded
    header = headless.header_times(json.loads((nbs / "01_a.ipynb").read_text(encoding="utf-8")))
    assert header == {"full": pytest.approx(126.0), "fast": 9.0}
    assert "Details." in (nbs / "01_a.ipynb").read_text(encoding="utf-8")
    text = readme.read_text(encoding="utf-8")
    assert "*Full-mode times: `python -m course_lib run --full --record` on " in text and "load average 0.4" in text
    assert "*Fast-mode times: old.*" in text
    headless.record_times([{"notebook": "02_b", "seconds": 4.2, "error": ""}], "fast", readme=readme,
                        notebooks_dir=nbs, load=None)
    assert headless.readme_times(readme.read_text(encoding="utf-8"))["02"]["fast"] == 4.0
    with pytest.raises(ValueError, match="no row for notebook 03"):
        headless.record_times([{"notebook": "03_c", "seconds": 1.0, "error": ""}], "fast", readme=readme,
                            notebooks_dir=nbs, load=None)


def test_the_runner_checks_a_rebuilt_lm_against_the_recipes_band():
    from course_lib.tasks import recipe

    band = sorted(c.expected for c in headless.CLAIMS if c.notebook == "05" and "band" in c.what)
    assert band == [100 * recipe.BAND[0], 100 * recipe.BAND[1]]
