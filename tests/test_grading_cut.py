"""The grading budget (``course_lib.grading.cut``): which statements the grader runs in fast mode.

The learner's cells always run whole; of the course's own unchanged cells only what a check or a
learner's cell depends on runs. No notebook is executed here.
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import cut, synthetic

SETUP = "import numpy as np\nfrom course_lib.exercises import check"
TRAIN = "model = train_for_an_hour()\ncurve = model.history\nplot(curve)"
SCALE = "SCALE = 2.0\nnp.random.seed(0)"
STUB = "def my_fn(x):\n    raise NotImplementedError"
CHECK = 'result = check("discounted_returns", my_fn)'
DRAW = "show(result, model)"


def _nb(*sources: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _run(plan: cut.Plan) -> dict[int, str]:
    return dict(plan.cells)


COURSE = {s.rstrip() for s in (SETUP, TRAIN, SCALE, STUB, CHECK, DRAW)}


def test_the_course_s_own_training_and_drawing_are_not_run_but_imports_stubs_and_checks_are():
    plan = cut.plan(_nb(SETUP, TRAIN, SCALE, STUB, CHECK, DRAW), COURSE)
    run = _run(plan)
    assert run[0] == SETUP and run[4] == CHECK
    assert 1 in plan.skipped and 5 in plan.skipped  # training and drawing: budget zero
    assert 2 in plan.skipped  # nothing run later reads SCALE
    assert run[3] == STUB  # the untouched stub is the course's own, but the check reads my_fn


def test_the_learners_cells_run_whole_and_pull_in_what_they_read():
    mine = "def my_fn(x):\n    return np.asarray(x) * SCALE + len(curve)"
    plan = cut.plan(_nb(SETUP, TRAIN, SCALE, mine, CHECK, DRAW), COURSE)
    run = _run(plan)
    assert run[3] == mine
    assert run[2] == "SCALE = 2.0"  # read by the learner's function (np.random.seed(0) changes no name)
    # curve is read too: its statement runs, and with it what curve reads (model); plot(curve) does not
    assert run[1] == "model = train_for_an_hour()\ncurve = model.history"
    assert 1 in plan.shortened and 5 in plan.skipped


def test_a_changed_course_cell_runs_whole():
    plan = cut.plan(_nb(SETUP, TRAIN + "\n# my note", STUB, CHECK), COURSE)
    assert _run(plan)[1] == TRAIN + "\n# my note"


def test_a_cell_whose_stored_outputs_claim_a_check_record_runs_whole():
    nb = _nb(SETUP, TRAIN, STUB, CHECK)
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.course-lib.check.v1+json": {"exercise": "discounted_returns", "status": "passed"}})]
    assert _run(cut.plan(nb, COURSE))[1] == TRAIN


def test_a_method_call_changes_its_object_but_not_a_module():
    source = "data = load()\ndata.append(3)\nnp.zeros(3)\nwaste = np.ones(10**9)"
    user = "def my_fn(x):\n    return data"
    plan = cut.plan(_nb(SETUP, source, user, CHECK), COURSE | {source})
    assert _run(plan)[1] == "data = load()\ndata.append(3)"


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_every_check_and_every_learner_cell_of_the_course_runs(path):
    nb = nbformat.read(path, as_version=4)
    stubs = synthetic.stub_cells(nb)
    filled = synthetic.fill(nb, {name: "wrong" for name in stubs})
    plan = cut.plan(filled, cut.course_sources(path.stem, str(path.parents[1])))
    run = _run(plan)
    for index, _ in stubs.values():
        assert run.get(index) == filled.cells[index].source, (path.stem, index)
    for i, cell in enumerate(filled.cells):
        if cell.cell_type == "code":
            for stmt in ast.parse(cell.source).body:
                if cut._mentions_check(stmt):
                    assert i in run and ast.unparse(stmt) in ast.unparse(ast.parse(run[i])), (path.stem, i)


def test_a_real_notebook_graded_within_the_budget_earns_exactly_what_its_answers_earn(tmp_path):
    """End to end on notebook 01 (three exercises): a synthetic class of correct, mixed, library-calling
    and forged submissions, graded with the grading budget by the real grader, every protection on."""
    from course_lib.experiments.bench_grading import build_class, check_marks, graded_notebooks, lost
    from course_lib.grading import grade as grade_mod

    nb01 = [p for p in graded_notebooks() if p.stem.startswith("01_")]
    kinds = build_class(tmp_path / "subs", 6, nb01, seed=2)
    assert {k.split(":")[0] for k in kinds.values()} == {"correct", "mixed", "calls the library", "forged outputs"}
    summary = grade_mod.grade(tmp_path / "subs", tmp_path / "book", jobs=2, progress=False)
    compared, wrong = check_marks(summary["results"], kinds)
    assert compared == 18 and wrong == [] and lost(summary["results"]) == []
    assert all(r["execution"]["skipped_cells"] for r in summary["results"])  # the budget did skip cells
