"""The grader: re-execution, capture where the check runs, grading in a pristine process, the gradebook.

One class of small synthetic submissions of notebook 00's exercise (``discounted_returns``) is graded
once (module fixture, 2 jobs); each test reads what one learner earned.
"""
from __future__ import annotations

import csv
import json

import nbformat
import pytest

from course_lib.grading import grade as grade_mod
from course_lib.grading import regrade, synthetic
from tests.learner_code import CHECK, NB
from tests.learner_code import CORRECT as OWN_CORRECT

FORWARDS = '''\
def my_returns(rewards, gamma, dones=None):
    out, g = [], 0.0
    for t in range(len(rewards)):  # front to back: the registered mistake "summed_forwards"
        g = rewards[t] + gamma * g
        out.append(g)
        if dones is not None and dones[t]:
            g = 0.0
    return out
'''
STUB = "def my_returns(rewards, gamma, dones=None):\n    raise NotImplementedError\n"
REBIND = "from course_lib.mdp import discounted_returns as my_returns"


def notebook(*sources: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    subs = root / "subs"
    subs.mkdir()
    sentinel = root / "outside.txt"
    sentinel.write_text("the instructor's file")

    def put(learner: str, nb) -> None:
        nbformat.write(nb, subs / f"{learner}__{NB}.ipynb")

    # correct (its function and another cell also try to delete a file outside the copy), then the
    # notebook rebinds the name to the library's version, as notebook 00 does
    vandal = f"    import os\n    try:\n        os.remove({str(sentinel)!r})\n    except OSError:\n        pass\n"
    put("correct", notebook(OWN_CORRECT.replace("    out, g", vandal + "    out, g", 1), CHECK,
                            f"import os\ntry:\n    os.remove({str(sentinel)!r})\nexcept OSError as e:\n    print('refused', e)",
                            REBIND, "print(my_returns([1, 2], 0.5))"))
    # a stub left as is, with a hand-written "passed" record in the check cell's outputs
    put("forged", synthetic.forge(notebook(STUB, CHECK)))
    # replaces the checker in the kernel so that a wrong answer "passes" there
    put("patcher", notebook(
        FORWARDS,
        "import course_lib.exercises as ex, course_lib.exercises.checker as ch\n"
        "def fake(name, fn, **kw):\n"
        "    print('✅', name, 'passed')\n"
        "ex.check = ch.check = fake",
        CHECK))
    # a correct answer checked, then a cell that never ends
    put("hang", notebook(OWN_CORRECT, CHECK, "while True:\n    pass"))
    # a wrong answer (a registered mistake) checked, then sys.exit (IPython survives it) and
    # os._exit (the kernel dies), then a correct answer that never runs
    put("crash", notebook(FORWARDS, CHECK, "import sys\nsys.exit(3)", "import os\nos._exit(1)", OWN_CORRECT, CHECK))
    put("library", notebook("from course_lib.mdp import discounted_returns\n"
                            "def my_returns(rewards, gamma, dones=None):\n"
                            "    return discounted_returns(rewards, gamma, dones)", CHECK))
    (subs / f"notjson__{NB}.ipynb").write_text("this is { not JSON")
    (subs / "stray.txt").write_text("not a submission")
    out = root / "book"
    rc = grade_mod.main([str(subs), "--out", str(out), "--jobs", "2", "--timeout", "30", "--no-progress"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())["results"]
    return {"out": out, "sentinel": sentinel, "by": {r["learner"]: r for r in results}}


def entry(graded, learner: str) -> dict:
    return graded["by"][learner]["exercises"]["discounted_returns"]


def test_correct_submission_gets_full_marks_from_the_function_captured_at_its_check(graded):
    e = entry(graded, "correct")
    assert (e["points"], e["status"], e["flag"]) == (1, "passed", "")
    assert graded["by"]["correct"]["forged"] == []
    assert graded["by"]["correct"]["execution"]["finished"]


def test_wrong_answer_earns_zero_with_its_specific_hint(graded):
    e = entry(graded, "crash")
    assert (e["points"], e["status"]) == (0, "failed")
    assert e["mistake"] == "summed_forwards" and "forwards" in e["hint"]


def test_forged_outputs_are_reported_and_earn_nothing(graded):
    r = graded["by"]["forged"]
    assert r["exercises"]["discounted_returns"]["points"] == 0
    assert r["exercises"]["discounted_returns"]["status"] == "not attempted"
    assert len(r["forged"]) == 1 and "passed" in r["forged"][0]


def test_monkeypatching_the_checker_in_the_kernel_earns_nothing(graded):
    e = entry(graded, "patcher")
    assert e["points"] == 0 and e["status"] == "not graded"  # its check never reached the real one


def test_a_hang_keeps_what_was_earned_before_it_and_says_why(graded):
    r = graded["by"]["hang"]
    assert r["exercises"]["discounted_returns"]["points"] == 1
    assert not r["execution"]["finished"] and "30 s" in r["execution"]["reason"]


def test_a_kernel_crash_keeps_what_was_earned_and_grading_goes_on(graded):
    r = graded["by"]["crash"]
    assert r["exercises"]["discounted_returns"]["points"] == 0  # the correct version came after os._exit
    assert not r["execution"]["finished"] and "kernel died" in r["execution"]["reason"]


def test_learner_code_cannot_delete_files_outside_its_copy(graded):
    assert graded["sentinel"].read_text() == "the instructor's file"


def test_a_function_calling_the_library_is_flagged_and_zero_by_default(graded):
    e = entry(graded, "library")
    assert (e["points"], e["status"]) == (0, "library") and e["flag"]


def test_not_json_earns_zero_with_its_reason(graded):
    e = entry(graded, "notjson")
    assert e["points"] == 0 and "not a valid notebook" in e["reason"]


def test_gradebook_files_are_written(graded):
    out = graded["out"]
    rows = {r["learner"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == {"correct", "forged", "patcher", "hang", "crash", "library", "notjson"}
    assert rows["correct"]["00:discounted_returns"] == "1" and rows["correct"]["total"] == "1"
    assert rows["forged"]["forged"] == "1"
    md = (out / "gradebook.md").read_text()
    assert "Pass rate per exercise" in md and "What to re-teach" in md and "stray.txt" in md
    assert "Hint:" in (out / "feedback" / "crash.md").read_text()
    gs = json.loads((out / "gradescope" / "correct" / "results.json").read_text())
    assert gs["score"] == 1 and gs["tests"][0]["max_score"] == 1 and gs["tests"][0]["status"] == "passed"


def test_empty_or_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert grade_mod.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert grade_mod.main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no notebook to grade" in capsys.readouterr().err


def test_a_file_that_is_not_a_notebook_is_named_and_zero(tmp_path):
    from course_lib.grading.worker import grade_notebook

    bad = tmp_path / "ann__00_welcome.pdf"
    bad.write_bytes(b"%PDF-1.4")
    result = grade_notebook(bad, NB, tmp_path, fast=True, timeout=10, memory=2**30, library_policy="zero")
    assert result["exercises"]["discounted_returns"]["points"] == 0
    assert "not a notebook" in result["exercises"]["discounted_returns"]["reason"]


@pytest.mark.parametrize("source, why", [
    ("@staticmethod\ndef f(x):\n    return x\n", "decorat"),
    ("def f(x, y=print('hi')):\n    return x\n", "literal"),
    ("import os\n", "plain `def`"),
])
def test_rebuilding_refuses_code_that_runs_at_definition(source, why):
    with pytest.raises(regrade.BuildError, match=why):
        regrade.build_function({"source": source, "globals": {}, "freevars": []})


def test_rebuilding_imports_only_allowed_packages():
    cap = {"source": "def f(x):\n    return np.asarray(x) * K\n", "freevars": [],
           "globals": {"np": {"kind": "module", "module": "numpy"}, "K": {"kind": "value", "repr": "2"}}}
    assert list(regrade.build_function(cap)([1, 2])) == [2, 4]
    cap["globals"]["np"] = {"kind": "module", "module": "ftplib"}
    with pytest.raises(regrade.BuildError, match="does not import"):
        regrade.build_function(cap)


def test_a_verbatim_copy_of_the_library_is_recognised():
    import inspect

    from course_lib import mdp
    from course_lib.exercises import get_exercise

    source = inspect.getsource(mdp.discounted_returns).replace("def discounted_returns(", "def mine(")
    assert "library" in regrade.copied_from(source, get_exercise("discounted_returns"))
    assert regrade.copied_from(OWN_CORRECT, get_exercise("discounted_returns")) is None


def test_submissions_are_matched_to_notebooks_in_both_layouts(tmp_path):
    (tmp_path / "ann").mkdir()
    nbformat.write(notebook("1"), tmp_path / "ann" / "01_mine.ipynb")
    nbformat.write(notebook("1"), tmp_path / "bob__00_welcome.ipynb")
    subs, ignored = grade_mod.discover(tmp_path)
    assert {(s.learner, s.notebook) for s in subs} == {("ann", "01_mdp_and_discounted_return"), ("bob", NB)}
    assert ignored == []


def test_instructor_guide_is_current():
    from course_lib.grading import guide

    text = guide.guide_path().read_text(encoding="utf-8")
    assert text == guide.current(text), ("docs/instructors.md is stale: the exercise registry changed. "
                                         "Run: python -m course_lib.grading.guide")
    for name in __import__("course_lib.exercises", fromlist=["list_exercises"]).list_exercises():
        assert f"#### `{name}`" in text


def _rename_identifiers(source: str, names: dict) -> str:
    import io
    import tokenize

    toks = [(t.type, names.get(t.string, t.string) if t.type == tokenize.NAME else t.string)
            for t in tokenize.generate_tokens(io.StringIO(source).readline)]
    return tokenize.untokenize(toks)


def test_a_copy_of_the_library_with_its_arguments_and_locals_renamed_is_recognised():
    import inspect
    import textwrap

    from course_lib import mdp
    from course_lib.exercises import get_exercise

    ex = get_exercise("discounted_returns")
    src = textwrap.dedent(inspect.getsource(mdp.discounted_returns))
    renamed = _rename_identifiers(src, {"discounted_returns": "my_returns", "rewards": "rw", "gamma": "disc",
                                        "dones": "ends", "returns": "res", "future": "acc", "t": "k"})
    assert "acc =rw [k ]+disc *acc" in renamed  # untokenize keeps the tokens, not the spacing
    renamed = renamed.replace("rw =rw ,ends =ends", "rewards =rw ,dones =ends")  # keywords name the callee's
    assert regrade.copied_from(renamed, ex) == "the library's course_lib.mdp.discounted_returns"
    # a different algorithm with the same names is not a copy
    assert regrade.copied_from(OWN_CORRECT, ex) is None


def test_the_synthetic_library_answer_calls_the_library_for_every_exercise(repo_root):
    """``synthetic``'s "library" answer must reach the library's function (not a same-named attribute
    of its package, as `import course_lib.lm.generate as m` would give the function generate)."""
    from course_lib.exercises import check, get_exercise

    seen = 0
    for path in sorted((repo_root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        stubs = {name: at for name, at in synthetic.stub_cells(nb).items() if get_exercise(name).library}
        filled = synthetic.fill(nb, {name: "library" for name in stubs})
        for name, (index, fname) in stubs.items():
            namespace: dict = {}
            exec(filled.cells[index].source, namespace)  # noqa: S102 - the answer synthetic wrote
            assert check(name, namespace[fname]).status == "library", name
            seen += 1
    assert seen >= 10
    with pytest.raises(ValueError, match="no library function"):  # an answer that is data has none to call
        synthetic.fill(nbformat.read(repo_root / "notebooks" / "11_why_isnt_it_learning.ipynb", as_version=4),
                       {"name_the_fault": "library"})
