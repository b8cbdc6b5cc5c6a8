"""The grader as a security boundary: a hostile submission cannot change another learner's marks.

One class is graded once (module fixture): an honest learner and an attacker whose notebook, and
whose checked function (run again by the sub-grader), try to turn the read-only filesystem back on
for writing (``mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL)`` and every mount point one by
one), then rewrite the classmate's submission, add a file to the submissions folder, append to last
week's gradebook, and leave a double-forked, ``setsid``, ``chdir('/')`` process that keeps the
executor's stderr and tries to rewrite the new ``gradebook.csv`` after ``grade`` has returned.
"""
from __future__ import annotations

import csv
import json
import os
import time
import uuid

import nbformat
import pytest

from course_lib.grading import grade as grade_mod
from tests.learner_code import CHECK, CORRECT, NB

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="Linux only: the kernel's isolation")

MARKER = f"course-security-leftover-{uuid.uuid4().hex}"


# Learner code: remount "/" read-write (the exact call of the report), then every mount point, then
# write where the learner must not. Prints what happened; returns the list of paths it wrote.
ATTACK = '''\
def _attack(targets):
    import ctypes, os
    MS_REMOUNT, MS_BIND = 32, 4096
    libc = ctypes.CDLL(None, use_errno=True)
    said = ["remount / -> %d (errno %d)" % (libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND, None),
                                            ctypes.get_errno())]
    try:
        points = [line.split()[4] for line in open("/proc/self/mountinfo")]
    except OSError:
        points = []
    for p in points:
        libc.mount(None, p.encode(), None, MS_REMOUNT | MS_BIND, None)
    wrote = []
    for path, mode in targets:
        try:
            with open(path, mode) as f:
                f.write("tampered by the attacker\\n")
            wrote.append(path)
        except OSError as exc:
            said.append("refused %s: %s" % (path, exc))
    print(said, "wrote:", wrote)
    return wrote
'''

LEFTOVER = '''\
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        code = ("import ctypes, sys, time\\n"
                "libc = ctypes.CDLL(None)\\n"
                "end = time.time() + 90\\n"
                "while time.time() < end:\\n"
                "    libc.mount(None, b'/', None, 32 | 4096, None)\\n"
                "    try:\\n"
                "        open(sys.argv[2], 'a').write('attacker,1,1,1,,0\\\\n')\\n"
                "    except OSError:\\n"
                "        pass\\n"
                "    time.sleep(0.2)\\n")
        os.execv(sys.executable, [sys.executable, "-c", code, MARKER, BOOK])
    os._exit(0)
time.sleep(0.5)
'''


def _notebook(*sources: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _marked_processes() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if MARKER.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack")
    subs, out = root / "subs", root / "book"
    subs.mkdir()
    out.mkdir()
    victim = subs / f"victim__{NB}.ipynb"
    nbformat.write(_notebook(CORRECT, CHECK), victim)
    last_week = out / "last_week.csv"
    last_week.write_text("learner,total\nvictim,3\n")
    new_book = out / "gradebook.csv"
    targets = [(str(victim), "w"), (str(subs / "planted__00_welcome.ipynb"), "w"), (str(last_week), "a")]
    # The attacker's checked function attacks too (it runs again in the sub-grader), then answers.
    fn = CORRECT.replace("    out, g =", f"    _attack({targets!r})\n    out, g =", 1)
    nbformat.write(_notebook(ATTACK, f"print(_attack({targets!r}))",
                             LEFTOVER.replace("MARKER", repr(MARKER)).replace("BOOK", repr(str(new_book))),
                             fn, CHECK), subs / f"attacker__{NB}.ipynb")
    before = {p.name: p.read_bytes() for p in subs.iterdir()}
    started = time.monotonic()
    rc = grade_mod.main([str(subs), "--out", str(out), "--jobs", "2", "--timeout", "40", "--no-progress"])
    seconds = time.monotonic() - started
    book = new_book.read_bytes()
    time.sleep(3)  # anything left running would rewrite the gradebook now
    leftovers = _marked_processes()
    for pid in leftovers:  # do not leave the attacker running on the test machine
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    results = json.loads((out / "results.json").read_text())["results"]
    return {"rc": rc, "subs": subs, "before": before, "last_week": last_week, "book_at_exit": book,
            "book_now": new_book.read_bytes(), "leftovers": leftovers, "seconds": seconds,
            "by": {r["learner"]: r for r in results}, "out": out}


def test_the_classmates_submission_and_the_submissions_folder_are_unchanged(attacked):
    assert attacked["rc"] == 0
    now = {p.name: p.read_bytes() for p in attacked["subs"].iterdir()}
    assert now == attacked["before"]


def test_last_weeks_gradebook_is_unchanged(attacked):
    assert attacked["last_week"].read_text() == "learner,total\nvictim,3\n"


def test_the_honest_learner_gets_exact_marks_and_the_attacker_no_more_than_its_answer(attacked):
    rows = {r["learner"]: r for r in csv.DictReader(attacked["book_now"].decode().splitlines())}
    assert set(rows) == {"victim", "attacker"}
    assert rows["victim"]["total"] == "1"
    victim = attacked["by"]["victim"]["exercises"]["discounted_returns"]
    assert (victim["points"], victim["status"]) == (1, "passed")
    # the attacker's function ran its attack in the sub-grader, failed to write, and then answered
    attacker = attacked["by"]["attacker"]["exercises"]["discounted_returns"]
    assert (attacker["points"], attacker["status"]) == (1, "passed"), attacker


def test_nothing_of_the_learner_runs_after_grading_and_the_gradebook_stays_as_written(attacked):
    assert attacked["leftovers"] == []
    assert attacked["book_now"] == attacked["book_at_exit"]


def test_a_left_behind_process_does_not_hold_up_grading(attacked):
    # the leftover keeps the executor's stderr; the worker must not wait for it past the notebook
    assert attacked["seconds"] < 120, attacked["seconds"]
    assert attacked["by"]["attacker"]["execution"]["finished"]


def test_the_grader_reports_the_kernel_protections_it_used(attacked):
    protections = " ".join(attacked["by"]["victim"]["execution"]["protections"])
    for what in ("pid namespace", "read-only", "no capabilities", "no_new_privs"):
        assert what in protections, protections


def test_a_notebook_that_prints_too_much_keeps_only_the_capped_output(tmp_path):
    from course_lib.grading.execute import notebook_client

    nb = _notebook("print('x' * 1_000_000)\nprint('y' * 1_000_000)\nprint('z' * 1_000_000)", "print('after')")
    status: dict = {}
    notebook_client(nb, status=status, output_limit=2_500_000, timeout=60,
                    allow_errors=True).execute()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    assert status.get("output_cut") and "dropped the output past" in text
    assert len(text) < 2_600_000 and "after" not in text  # nothing kept past the cap, however small


# --- reaching the library at run time, from the function the sub-grader grades -----------------------

FRESH_COPY = '''\
def my_returns(rewards, gamma, dones=None):
    import importlib.util, course_lib.mdp.returns
    spec = importlib.util.spec_from_file_location("course_lib.mdp.fresh_returns", course_lib.mdp.returns.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return fresh.discounted_returns(rewards, gamma, dones)
'''
REGISTRY = '''\
def my_returns(rewards, gamma, dones=None):
    from course_lib.exercises import get_exercise
    return get_exercise("discounted_returns").teaching(rewards, gamma, dones)
'''
SUBPROCESS = '''\
def my_returns(rewards, gamma, dones=None):
    import json, subprocess, sys
    code = "import json, sys; from course_lib.mdp import discounted_returns as d; " \\
           "print(json.dumps(list(d(*json.loads(sys.argv[1])))))"
    out = subprocess.run([sys.executable, "-c", code, json.dumps([list(map(float, rewards)), gamma,
                          None if dones is None else list(map(bool, dones))])], capture_output=True, text=True)
    return json.loads(out.stdout)
'''


@pytest.mark.parametrize("source, status", [(FRESH_COPY, "library"), (REGISTRY, "library"),
                                            (SUBPROCESS, "error")])
def test_reaching_the_library_at_run_time_is_caught_in_the_sub_grader(source, status):
    from course_lib.exercises.checker import check
    from course_lib.grading import regrade

    graded = regrade.grade_capture("discounted_returns", {"source": source, "globals": {}, "freevars": []},
                                   check, time_limit=120)
    assert graded["status"] == status and not graded["passed"], graded


def test_a_cell_timeout_says_whether_the_kernel_was_idle_or_busy(tmp_path):
    """An idle kernel at a timeout is a lost message (worth one retry); a busy one is the notebook's loop."""
    from nbclient.exceptions import CellTimeoutError

    from course_lib.grading.execute import notebook_client

    for source, idle in (("import time\ntime.sleep(30)", True), ("while True:\n    pass", False)):
        status: dict = {}
        with pytest.raises(CellTimeoutError):
            notebook_client(_notebook(source), status=status, timeout=4).execute()
        assert status["idle_timeout"] is idle, source


def test_every_wait_is_bounded_by_the_notebooks_expected_time():
    from course_lib.grading.grade import notebook_limit
    from course_lib.grading.headless import cell_limit

    assert cell_limit(None, 1800) == 1800
    assert cell_limit(13, 1800) == 180  # a fast notebook of 13 s: 3 minutes per cell, not 30
    assert cell_limit(282, 1800) == 1410 and cell_limit(600, 1800) == 1800
    assert notebook_limit(NB, True, 45.0) == 45.0  # an explicit --timeout wins
    assert 180 <= notebook_limit(NB, True, None) <= 600


def test_the_code_sandbox_still_runs_inside_the_graders_isolation(tmp_path):
    """Notebook 06 runs programs in the sandbox; inside the grader's kernel (nobody, no capabilities,
    its own view) the sandbox must still get its namespaces, or every program would be refused."""
    script = (
        "import os, sys, tempfile\n"
        "from course_lib.grading import regrade\n"
        "w = tempfile.mkdtemp(dir=sys.argv[1])\n"
        "done, missing = regrade.confine(w)\n"
        "assert regrade.unprotected(done, missing) is None, missing\n"
        "tempfile.tempdir = w\n"
        "from course_lib.sandbox import run_program\n"
        "r = run_program('def f():\\n    return 1\\n', [{'call': 'f()', 'expected': 1}])\n"
        "print('RESULT', r.status, r.passed, r.reason)\n")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert "RESULT ok 1" in out.stdout, out.stdout + out.stderr


def test_without_isolation_learner_code_is_refused_unless_the_instructor_says_unisolated(tmp_path):
    from course_lib.grading import regrade

    why = regrade.unprotected(["mount namespace"], ["pid namespace (Operation not permitted)"])
    assert "pid namespace" in why and "--unisolated" in why and "not run" in why
    assert regrade.unprotected(["pid namespace", "mount namespace", "no capabilities, no_new_privs",
                                "read-only filesystem except the working directory"], []) is None
    subs, out = tmp_path / "subs", tmp_path / "book"
    subs.mkdir()
    nbformat.write(_notebook(CORRECT, CHECK), subs / f"trusted__{NB}.ipynb")
    assert grade_mod.main([str(subs), "--out", str(out), "--unisolated", "--timeout", "60", "--no-progress"]) == 0
    r = json.loads((out / "results.json").read_text())["results"][0]
    assert r["exercises"]["discounted_returns"]["points"] == 1
    assert any("--unisolated" in m for m in r["execution"]["missing"])


def test_a_pass_printed_by_the_notebooks_own_code_is_reported_as_forged(tmp_path):
    """Re-execution reproduces a record the notebook prints itself; grading the function does not."""
    fake = ("from IPython.display import display\n"
            "from course_lib.exercises.checker import CheckResult\n"
            "display(CheckResult('discounted_returns', 'passed', True, cases_passed=12, cases_total=12))")
    stub = "def my_returns(rewards, gamma, dones=None):\n    raise NotImplementedError\n"
    subs, out = tmp_path / "subs", tmp_path / "book"
    subs.mkdir()
    nb = _notebook(stub, CHECK, fake)
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()  # as the learner ran it
    nbformat.write(nb, subs / f"printer__{NB}.ipynb")
    assert grade_mod.main([str(subs), "--out", str(out), "--timeout", "60", "--no-progress"]) == 0
    r = json.loads((out / "results.json").read_text())["results"][0]
    assert r["exercises"]["discounted_returns"]["points"] == 0
    assert len(r["forged"]) == 1 and "'passed'" in r["forged"][0], r["forged"]
