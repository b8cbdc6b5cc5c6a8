"""The code-execution sandbox (course_lib.sandbox): scores, bad input, and every hostile program.

Every hostile program must end with reward 0 and a reason, leave the test process (the caller)
alive, write nothing outside its temporary directory, and leave no process behind. The sandboxes
of these tests are created under the test's own ``tmp_path`` (``tempfile.tempdir`` is pointed
there), so "no process left behind" is checked by looking for that path, or for a marker the
program puts in a child's command line, in the process table.
"""
from __future__ import annotations

import os
import secrets
import socket
import tempfile
from pathlib import Path

import pytest

from course_lib.sandbox import (ProgramResult, available_protections, code_execution_reward, extract_code,
                                run_program)

DOUBLE_TESTS = [{"call": "solve(3)", "expected": 6}, {"call": "solve(0)", "expected": 0},
                {"call": "solve(-4)", "expected": -8}]


@pytest.fixture
def box(tmp_path, monkeypatch):
    """Sandboxes under tmp_path/sandboxes, and tmp_path/repo standing for the repository."""
    sandboxes, repo = tmp_path / "sandboxes", tmp_path / "repo"
    sandboxes.mkdir()
    repo.mkdir()
    (repo / "README.md").write_text("the repository\n")
    monkeypatch.setattr(tempfile, "tempdir", str(sandboxes))
    return sandboxes, repo


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def _assert_contained(result: ProgramResult, box, status: str | None = None, marker: str | None = None) -> None:
    """Reward 0 with a reason; caller alive; nothing outside the temp dir; nothing left running."""
    sandboxes, repo = box
    assert result.fraction == 0.0 and result.passed == 0, result
    assert result.reason, result
    if status is not None:
        assert result.status == status, result
    assert sorted(p.name for p in repo.iterdir()) == ["README.md"], "the program wrote outside its directory"
    assert (repo / "README.md").read_text() == "the repository\n"
    assert list(sandboxes.iterdir()) == [], "the temporary directory was not deleted"
    assert _processes_mentioning(str(sandboxes)) == [], "a sandbox process is still running"
    if marker is not None:
        assert _processes_mentioning(marker) == [], "the program's child is still running"
    os.kill(os.getpid(), 0)  # the caller (this test process) is alive


def _kernel_has(what: str) -> bool:
    return any(what in p for p in available_protections()[0])


# --- ordinary programs ---------------------------------------------------------------------------

def test_correct_program_scores_all_tests(box):
    r = run_program("def solve(n):\n    return 2 * n\n", DOUBLE_TESTS)
    assert (r.status, r.passed, r.total, r.fraction) == ("ok", 3, 3, 1.0), r
    assert r.details == ("pass", "pass", "pass")
    assert "audit hook" in " ".join(r.protections) and "rlimits" in " ".join(r.protections)
    assert list(box[0].iterdir()) == []


def test_off_by_one_program_scores_the_tests_it_passes(box):
    r = run_program("def solve(n):\n    return 2 * n + (n > 0)\n", DOUBLE_TESTS)
    assert (r.status, r.passed, r.fraction) == ("ok", 2, pytest.approx(2 / 3)), r
    assert r.details[0] == "fail: returned 7, expected 6"


def test_output_is_captured_and_the_program_runs_as_a_module_not_main(box):
    src = "print('hello')\nif __name__ == '__main__':\n    raise SystemExit(3)\ndef solve(n):\n    return 2 * n\n"
    r = run_program(src, DOUBLE_TESTS)
    assert r.status == "ok" and r.passed == 3 and r.stdout == "hello\n", r


def test_exceptions_in_a_call_fail_that_test_only(box):
    r = run_program("def solve(n):\n    return 2 * n * n // n\n", DOUBLE_TESTS)
    assert r.status == "ok" and r.passed == 2 and r.details[1].startswith("error: ZeroDivisionError"), r


def test_values_are_compared_strictly_after_a_json_round_trip(box):
    src = ("class Equal(int):\n    def __eq__(self, other):\n        return True\n"
           "def always():\n    return Equal(0)\n"
           "def one():\n    return 1\n"
           "def pair():\n    return (1, 2)\n")
    tests = [{"call": "always()", "expected": 6}, {"call": "one()", "expected": True},
             {"call": "pair()", "expected": [1, 2]}, {"call": "one()", "expected": 1.0}]
    r = run_program(src, tests)
    assert r.status == "ok" and r.details[0].startswith("fail: returned a Equal"), r
    assert [d == "pass" for d in r.details] == [False, False, True, True], r


def test_syntax_error_and_sys_exit_crash_with_reward_zero(box):
    r = run_program("def solve(n) return n\n", DOUBLE_TESTS)
    assert (r.status, r.fraction) == ("crashed", 0.0) and "SyntaxError" in r.reason, r
    r = run_program("import sys\nsys.exit(0)\n", DOUBLE_TESTS)
    assert (r.status, r.fraction) == ("crashed", 0.0) and "SystemExit" in r.reason, r


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"source": b"def solve(n): return n"}, "source"),
    ({"source": None}, "source"),
    ({"time_limit": 0}, "time_limit"),
    ({"time_limit": -1.0}, "time_limit"),
    ({"time_limit": float("inf")}, "time_limit"),
    ({"memory_limit": 0}, "memory_limit"),
    ({"memory_limit": -5}, "memory_limit"),
    ({"memory_limit": 2**20}, "memory_limit"),
    ({"output_limit": 0}, "output_limit"),
    ({"output_limit": True}, "output_limit"),
    ({"file_size_limit": 0}, "file_size_limit"),
    ({"open_files_limit": -1}, "open_files_limit"),
    ({"tests": ({"call": "solve(1)", "expected": 2},)}, "tests"),
    ({"tests": {"call": "solve(1)", "expected": 2}}, "tests"),
    ({"tests": "solve(1) == 2"}, "tests"),
    ({"tests": []}, "tests"),
    ({"tests": [{"call": "solve(1)"}]}, r"tests\[0\]"),
    ({"tests": [{"call": 3, "expected": 2}]}, r"tests\[0\]"),
    ({"tests": [{"call": "solve(1)", "expected": {1, 2}}]}, r"tests\[0\]\['expected'\]"),
])
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, name):
    args = {"source": "def solve(n):\n    return n\n", "tests": DOUBLE_TESTS, **kwargs}
    with pytest.raises(ValueError, match=name):
        run_program(args.pop("source"), args.pop("tests"), **args)


# --- the reward in TRL's convention --------------------------------------------------------------

def test_code_execution_reward_is_the_fraction_of_tests_passed(box):
    right = "Here you go:\n```python\ndef solve(n):\n    return 2 * n\n```\nDone."
    off = "def solve(n):\n    return 2 * n + 1\n"
    conversational = [{"role": "assistant", "content": right}]
    rewards = code_execution_reward([right, off, conversational], tests=[DOUBLE_TESTS] * 3, prompts=["p"] * 3)
    assert rewards == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="tests"):
        code_execution_reward([right, off], tests=[DOUBLE_TESTS])
    with pytest.raises(ValueError, match="tests"):
        code_execution_reward([right])


def test_extract_code_takes_the_first_fenced_block():
    assert extract_code("x\n```python\na = 1\n```\n```python\nb = 2\n```") == "a = 1\n"
    assert extract_code("a = 1\n") == "a = 1\n"
    assert extract_code("```python\nunclosed") == "```python\nunclosed"
