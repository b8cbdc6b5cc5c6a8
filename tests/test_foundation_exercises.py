"""The exercise checker: right answers pass, known mistakes get their own hint, nothing breaks."""
import json
import threading
import time

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from course_lib.exercises import (
    RESULT_MIME, ExerciseFailed, check, get_exercise, hint, list_exercises, results_from_notebook, solution,
)
from course_lib.exercises.catalog.mdp import teaching_discounted_returns as discounted_returns
from course_lib.mdp import discounted_returns as library_discounted_returns

EX = get_exercise("discounted_returns")


def test_a_correct_answer_passes():
    result = check("discounted_returns", discounted_returns)
    assert result.passed and result.status == "passed" and bool(result)
    assert result.cases_passed == result.cases_total >= 10
    assert result.hint == ""


def test_the_librarys_own_function_is_refused():
    result = check("discounted_returns", library_discounted_returns)
    assert result.status == "library" and not result.passed and "write your own" in result.message


def test_a_learner_version_written_differently_passes():
    def mine(rewards, gamma, dones=None):
        T = len(rewards)
        out = []
        for t in range(T):
            g, k = 0.0, t
            while k < T:
                g += gamma ** (k - t) * rewards[k]
                if dones is not None and dones[k]:
                    break
                k += 1
            out.append(g)
        return out  # a list is fine

    assert check("discounted_returns", mine).passed


@pytest.mark.parametrize("mistake", EX.mistakes, ids=lambda m: m.name)
def test_every_registered_mistake_gets_its_own_hint(mistake):
    result = check("discounted_returns", mistake.fn)
    assert not result.passed and result.status == "failed"
    assert result.mistake == mistake.name
    assert result.hint == mistake.hint


def test_mistake_hints_are_distinct_and_at_least_three():
    hints = [m.hint for m in EX.mistakes]
    assert len(hints) >= 3 and len(set(hints)) == len(hints)


def test_an_unrecognised_wrong_answer_gets_the_general_hint_and_the_failing_case():
    result = check("discounted_returns", lambda rewards, gamma, dones=None: np.zeros(len(rewards)))
    assert result.status == "failed" and result.mistake is None
    assert result.hint == EX.hint
    assert "expected" in result.details and "case" in result.details


def test_forgotten_return_is_named():
    def forgot(rewards, gamma, dones=None):
        discounted_returns(rewards, gamma, dones)  # the learner's own version, computed and dropped

    assert "return" in check("discounted_returns", forgot).hint


def test_not_attempted():
    def stub(rewards, gamma, dones=None):
        raise NotImplementedError

    result = check("discounted_returns", stub)
    assert result.status == "not attempted" and not result.passed
    assert "NotImplementedError" in result.hint


def test_an_exception_is_reported_with_the_learners_line_not_raised():
    def buggy(rewards, gamma, dones=None):
        out = np.zeros(len(rewards))
        out[len(rewards)] = 1.0  # the learner's bug
        return out

    result = check("discounted_returns", buggy)
    assert result.status == "error" and not result.passed
    assert "IndexError" in result.details
    assert "out[len(rewards)] = 1.0" in result.details
    assert "buggy" in result.details
    assert "checker.py" not in result.details and "runner.py" not in result.details


@pytest.mark.timeout(30)
def test_an_infinite_loop_is_stopped_within_the_time_limit():
    def forever(rewards, gamma, dones=None):
        while True:
            pass

    start = time.perf_counter()
    result = check("discounted_returns", forever)
    elapsed = time.perf_counter() - start
    assert result.status == "timeout" and not result.passed
    assert elapsed < EX.time_limit + 2.0


@pytest.mark.timeout(30)
def test_a_loop_that_swallows_exceptions_is_still_stopped():
    def stubborn(rewards, gamma, dones=None):
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass

    assert check("discounted_returns", stubborn).status == "timeout"


@pytest.mark.timeout(30)
def test_time_limit_also_works_off_the_main_thread():
    box = {}

    def forever(rewards, gamma, dones=None):
        while True:
            pass

    worker = threading.Thread(target=lambda: box.update(r=check("discounted_returns", forever)))
    worker.start()
    worker.join(EX.time_limit + 5)
    assert not worker.is_alive()
    assert box["r"].status == "timeout"


def test_bad_calls_get_clear_messages():
    r = check("discounted_return", discounted_returns)
    assert r.status == "invalid" and "discounted_returns" in r.message  # suggests the close name
    r = check("discounted_returns", 42)
    assert r.status == "invalid" and "function" in r.message
    r = check("discounted_returns", discounted_returns(np.ones(3), 0.5))
    assert r.status == "invalid" and "without calling it" in r.hint
    r = check("discounted_returns", lambda rewards: rewards)
    assert r.status == "invalid" and "signature" in r.message
    assert "discounted_returns(rewards, gamma, dones=None)" in r.hint
    r = check(None, discounted_returns)
    assert r.status == "invalid"


def test_strict_raises_only_when_asked():
    with pytest.raises(ExerciseFailed, match="discounted_returns"):
        check("discounted_returns", lambda rewards, gamma, dones=None: rewards, strict=True)
    assert check("discounted_returns", discounted_returns, strict=True).passed


def test_the_learners_inputs_are_copies_and_changing_them_fails():
    def mutating(rewards, gamma, dones=None):
        rewards[:] = 0  # vandalises its input, then answers correctly from the zeroed copy
        return discounted_returns(rewards, gamma, dones)

    result = check("discounted_returns", mutating)
    assert not result.passed and result.mistake == "modifies_input" and "`rewards`" in result.message
    assert check("discounted_returns", discounted_returns).passed  # cases were not damaged


def test_record_is_machine_readable():
    r = check("discounted_returns", discounted_returns)
    rec = json.loads(json.dumps(r.record()))
    assert rec["schema"] == "course_lib.check/1"
    assert rec["exercise"] == "discounted_returns" and rec["passed"] is True
    assert set(r.mime_bundle()) == {"text/plain", "text/html", RESULT_MIME}


def test_solution_shows_a_short_teaching_solution():
    s = solution("discounted_returns")
    assert s.source.startswith("def discounted_returns(") and "reversed" in s.source
    assert "course_lib" not in s.source and "check_probability" not in s.source
    assert "```python" in s._repr_markdown_()
    with pytest.raises(KeyError, match="no exercise"):
        solution("nope")


def test_registry_lists_the_first_exercise():
    assert "discounted_returns" in list_exercises()


# Every exercise any topic registers, with each of its mistakes: the contract of the catalogue.
ALL = [get_exercise(n) for n in list_exercises()]


@pytest.mark.parametrize("ex", ALL, ids=lambda e: e.name)
def test_every_teaching_solution_passes_and_the_library_is_refused(ex):
    # The expected outputs are the library's (ex.reference): a passing teaching solution equals it
    # on every case. It runs with the library's implementation replaced by a trap, so it also
    # proves the teaching solution is self-contained.
    assert ex.teaching is not None, f"{ex.name} has no teaching solution"
    result = check(ex.name, ex.teaching)
    assert result.passed, result.text()
    assert result.cases_total >= 3
    source = solution(ex.name).source
    assert source.startswith(f"def {ex.name}(") and "course_lib" not in source and len(source.splitlines()) <= 30
    if ex.library:
        import importlib

        module, _, attr = ex.library[0].partition(":")
        library_fn = getattr(importlib.import_module(module), attr)
        assert check(ex.name, library_fn).status == "library"
        assert check(ex.name, lambda *a, **k: library_fn(*a, **k)).status == "library"  # only calls it


@pytest.mark.parametrize("ex", ALL, ids=lambda e: e.name)
def test_every_exercise_has_a_three_step_help_ladder(ex):
    levels = [hint(ex.name, level).text for level in (1, 2, 3)]
    assert all(len(t) > 40 for t in levels) and len(set(levels)) == 3, levels
    assert ex.hint == levels[0]


@pytest.mark.parametrize("ex", ALL, ids=lambda e: e.name)
def test_every_exercise_has_at_least_three_distinct_mistakes(ex):
    assert len(ex.mistakes) >= 3
    assert len({m.hint for m in ex.mistakes}) == len(ex.mistakes)
    assert len({m.name for m in ex.mistakes}) == len(ex.mistakes)


@pytest.mark.parametrize("ex,mistake", [(e, m) for e in ALL for m in e.mistakes],
                         ids=lambda x: getattr(x, "name", ""))
def test_every_registered_mistake_of_every_exercise_gets_its_own_hint(ex, mistake):
    result = check(ex.name, mistake.fn)
    assert not result.passed
    assert result.mistake == mistake.name, result.text()
    assert result.hint == mistake.hint


NOTEBOOK_CELLS = [
    "from course_lib.exercises import check\nimport numpy as np",
    "def discounted_returns(rewards, gamma, dones=None):\n    raise NotImplementedError",
    'check("discounted_returns", discounted_returns)',
    "def discounted_returns(rewards, gamma, dones=None):\n    while True:\n        pass",
    'check("discounted_returns", discounted_returns)',
    "def discounted_returns(rewards, gamma, dones=None):\n    return [rewards[t + 1] for t in range(len(rewards))]",
    'check("discounted_returns", discounted_returns)',
    "from course_lib.mdp import discounted_returns\nresult = check('discounted_returns', discounted_returns)\nresult",
    "def discounted_returns(rewards, gamma, dones=None):\n    out, g = [], 0.0\n"
    "    for t in reversed(range(len(rewards))):\n        g = rewards[t] + gamma * g * (not (dones is not None and dones[t]))\n"
    "        out.insert(0, g)\n    return out",
    "result = check('discounted_returns', discounted_returns)\nresult",
    "import os\ndef discounted_returns(rewards, gamma, dones=None):\n    os._exit(1)",
    'check("discounted_returns", discounted_returns)',
    "print('the kernel is still alive')",
]


@pytest.mark.timeout(120)
def test_checks_inside_a_real_kernel_never_kill_it_and_are_recorded(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)

    records = results_from_notebook(path)
    assert [r["status"] for r in records] == ["not attempted", "timeout", "error", "library", "passed", "error"]
    assert records.problems == []
    assert "rewards[t + 1]" in records[2]["details"]  # the learner's own line, from the cell
    # a check that ends its cell as the value is shown once, not twice
    assert sum(RESULT_MIME in o.get("data", {}) for o in nb.cells[7].outputs) == 1
    assert sum(RESULT_MIME in o.get("data", {}) for o in nb.cells[9].outputs) == 1
    assert "exit code 1" in records[5]["message"]  # os._exit ended the child, not the kernel
    assert "the kernel is still alive" in nb.cells[12].outputs[0]["text"]


def test_results_from_notebook_rejects_a_non_notebook(tmp_path):
    bad = tmp_path / "x.ipynb"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="path"):
        results_from_notebook(bad)
