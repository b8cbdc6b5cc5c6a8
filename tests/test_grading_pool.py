"""The warm workers (``course_lib.grading.pool``): bounded waits, one retry, nothing shared between submissions."""
from __future__ import annotations

import os
import signal

import nbformat
import pytest

from course_lib.grading import pool
from tests.learner_code import CHECK, CORRECT, NB

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="Linux only: the kernel's isolation")

# a first submission leaves state behind in every way a process can; the next one looks for it
LEAVE = "import builtins, course_lib\nbuiltins.LEFT_BEHIND = 1\ncourse_lib.LEFT_BEHIND = 1"
LOOK = ("import builtins, os, course_lib\n"
        "if hasattr(builtins, 'LEFT_BEHIND') or hasattr(course_lib, 'LEFT_BEHIND'):\n"
        "    os._exit(3)  # the grader would report that the kernel died")


def _write(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_a_worker_that_died_is_replaced_and_the_submission_graded_once_more(tmp_path):
    sub = _write(tmp_path / f"ann__{NB}.ipynb", CORRECT, CHECK)
    workers = pool.Pool(1, tmp_path, fast=True, memory=8 * 2**30, policy="zero", isolated=True)
    try:
        w = workers.free.get()
        os.killpg(w.proc.pid, signal.SIGKILL)  # the warm worker dies between two submissions
        w.proc.wait(timeout=30)
        workers.free.put(w)
        result, why = workers.grade(sub, NB, 60.0)
        assert why == "" and result is not None, why
        assert result["exercises"]["discounted_returns"]["points"] == 1
        assert "second time" in result["retried"]
    finally:
        info = workers.close()
    assert info["restarts"] == 1 and info["count"] == 2


def test_nothing_one_submission_does_reaches_the_next(tmp_path):
    first = _write(tmp_path / f"a__{NB}.ipynb", LEAVE)
    second = _write(tmp_path / f"b__{NB}.ipynb", LOOK)
    control = _write(tmp_path / f"c__{NB}.ipynb", LEAVE, LOOK)  # the probe works: within one submission it fires
    workers = pool.Pool(1, tmp_path, fast=True, memory=8 * 2**30, policy="zero", isolated=True)
    try:
        assert workers.grade(first, NB, 60.0)[0]["execution"]["finished"]
        result, _ = workers.grade(second, NB, 60.0)
        fired, _ = workers.grade(control, NB, 60.0)
    finally:
        workers.close()
    assert "kernel died" in fired["execution"]["reason"], fired["execution"]
    assert result["execution"]["finished"], result["execution"]  # it found nothing of the first
    assert "judge" in result["timings"] and "cells" in result["timings"]


def test_the_warm_worker_never_imports_the_checker():
    """Its import forks the judge; a judge in the warm worker would be shared by every submission."""
    import subprocess
    import sys

    from course_lib.grading.worker import repo_root

    code = ("import sys; from course_lib.grading import pool; info = pool.warm(sys.argv[1], ['00_welcome']); "
            "print('EXERCISES', any(m.startswith('course_lib.exercises') for m in sys.modules), "
            "'TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, repo_root()], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": repo_root()})
    assert "EXERCISES False TORCH True" in out.stdout, out.stdout + out.stderr


def test_the_executor_keeps_outputs_within_its_budget_and_nothing_after_the_cut():
    from course_lib.grading.execute import Outputs

    out = Outputs(limit=2_500_000)
    for letter in "xyz":
        out.stream("stdout", letter * 1_000_000)
    out.add({"output_type": "display_data", "data": {"text/plain": "after"}, "metadata": {}})
    text = "".join(o.get("text", "") for o in out.cell)
    assert out.cut and "dropped the output past" in text
    assert len(text) < 2_600_000 and "z" not in text and "after" not in str(out.cell)


def test_the_executors_lines_are_read_as_untrusted_data(tmp_path):
    from course_lib.grading.execute import read_outputs

    (tmp_path / "outputs.jsonl").write_text('not json\n{"cell": "3", "outputs": []}\n[1, 2]\n'
                                            '{"cell": 2, "execution_count": -5, "outputs": [1, {"output_type": "stream"}]}\n')
    assert read_outputs(str(tmp_path)) == {2: {"execution_count": 1, "outputs": [{"output_type": "stream"}]}}
