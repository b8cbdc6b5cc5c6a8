"""The code-execution sandbox (course_lib.sandbox): scores, bad input, and every hostile program.

Every hostile program must end with reward 0 and a reason, leave the test process (the caller)
alive, write nothing outside its temporary directory, and leave no process behind. The sandboxes
of these tests are created under the test's own ``tmp_path`` (``tempfile.tempdir`` is pointed
there), so "no process left behind" is checked by looking for that path, or for a marker the
program puts in a child's command line, in the process table.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from course_lib.rewards import code_execution_reward
from course_lib.sandbox import ProgramResult, available_protections, extract_code, run_program

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
    """Command lines of the running processes (but this one) that contain ``text``."""
    if not Path("/proc/self").is_dir():  # no procfs (macOS): ask ps
        listing = subprocess.run(["ps", "-axww", "-o", "pid=,command="], capture_output=True, text=True).stdout
        return [line for line in listing.splitlines()
                if text in line and line.split(None, 1)[0] != str(os.getpid()) and "ps -axww" not in line]
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
           "def pair():\n    return (1, 2)\n"
           "def huge():\n    return 'x' * 10**6\n")
    tests = [{"call": "always()", "expected": 6}, {"call": "one()", "expected": True},
             {"call": "pair()", "expected": [1, 2]}, {"call": "one()", "expected": 1.0},
             {"call": "huge()", "expected": "x"}]
    r = run_program(src, tests)
    assert r.status == "ok" and r.details[0].startswith("fail: returned a Equal"), r
    assert [d == "pass" for d in r.details] == [False, False, True, True, False], r
    assert r.details[4] == "fail: returned a value too large to compare"


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
    assert code_execution_reward([right], tests=[json.dumps(DOUBLE_TESTS)]) == [1.0]  # a JSON column
    with pytest.raises(ValueError, match=r"tests\[0\]"):
        code_execution_reward([right], tests=["not json"])
    with pytest.raises(ValueError, match="tests"):
        code_execution_reward([right, off], tests=[DOUBLE_TESTS])
    with pytest.raises(ValueError, match="tests"):
        code_execution_reward([right])


def test_extract_code_takes_the_first_fenced_block():
    assert extract_code("x\n```python\na = 1\n```\n```python\nb = 2\n```") == "a = 1\n"
    assert extract_code("a = 1\n") == "a = 1\n"
    assert extract_code("```python\nunclosed") == "```python\nunclosed"


# --- hostile programs: each gets reward 0 with a reason and leaves nothing behind ----------------

def test_infinite_loop_is_killed_at_the_wall_clock_limit(box):
    r = run_program("while True:\n    pass\n", DOUBLE_TESTS, time_limit=1.0)
    _assert_contained(r, box, "timeout")
    assert r.seconds < 5


def test_a_loop_inside_a_test_call_is_killed_too(box):
    r = run_program("def solve(n):\n    while True:\n        pass\n", DOUBLE_TESTS, time_limit=1.0)
    _assert_contained(r, box, "timeout")


def test_fork_bomb_is_stopped(box):
    _assert_contained(run_program("import os\nwhile True:\n    os.fork()\n", DOUBLE_TESTS), box, "forbidden: process")


def test_memory_bomb_hits_the_address_space_limit(box):
    src = "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n"
    r = run_program(src, DOUBLE_TESTS)
    _assert_contained(r, box, "memory")
    assert "256 MiB" in r.reason


def test_a_gigabyte_of_output_is_cut_at_the_output_limit(box):
    src = "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    r = run_program(src, DOUBLE_TESTS, output_limit=4096)
    _assert_contained(r, box, "output limit")
    assert len(r.stdout) == 4096


def test_write_outside_its_directory_is_refused(box):
    target = box[1] / "pwned.txt"
    r = run_program(f"open({str(target)!r}, 'w').write('owned')\n", DOUBLE_TESTS)
    _assert_contained(r, box, "forbidden: write")
    src = f"import os\nos.rename({str(box[1] / 'README.md')!r}, 'stolen.md')\n"
    _assert_contained(run_program(src, DOUBLE_TESTS), box, "forbidden: write")


def test_writes_inside_its_directory_are_allowed(box):
    src = "open('scratch.txt', 'w').write('ok')\ndef solve(n):\n    return len(open('scratch.txt').read()) * n\n"
    r = run_program(src, [{"call": "solve(3)", "expected": 6}])
    assert r.status == "ok" and r.passed == 1, r


@pytest.fixture
def listener():
    """A TCP socket the test listens on at 127.0.0.1; yields (port, accepted-connection check)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)

    def connections() -> int:
        count = 0
        while True:
            try:
                conn, _ = server.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    yield server.getsockname()[1], connections
    server.close()


def test_network_connection_is_refused_and_the_listener_sees_nothing(box, listener):
    port, connections = listener
    src = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'hi')\n"
    r = run_program(src, DOUBLE_TESTS)
    _assert_contained(r, box, "forbidden: network")
    assert connections() == 0


def test_subprocess_spawn_is_refused(box):
    src = "import subprocess\nsubprocess.run(['sh', '-c', 'echo spawned'])\n"
    r = run_program(src, DOUBLE_TESTS)
    _assert_contained(r, box, "forbidden: process")
    assert "spawned" not in r.stdout
    _assert_contained(run_program("import os\nos.system('echo spawned')\n", DOUBLE_TESTS), box, "forbidden: process")


def test_the_parents_secret_environment_variable_is_not_visible(box, monkeypatch):
    secret = secrets.token_hex(12)
    monkeypatch.setenv("COURSE_SANDBOX_SECRET", secret)
    src = ("import os\n"
           "def leak():\n"
           "    found = os.environ.get('COURSE_SANDBOX_SECRET')\n"
           "    print(sorted(os.environ))\n"
           "    for pid in os.listdir('/proc'):\n"
           "        try:\n"
           "            data = open(f'/proc/{pid}/environ', 'rb').read()\n"
           "        except OSError:\n"
           "            continue\n"
           "        for item in data.split(b'\\0'):\n"
           "            if item.startswith(b'COURSE_SANDBOX_SECRET='):\n"
           "                found = item.split(b'=', 1)[1].decode()\n"
           "    return found\n")
    r = run_program(src, [{"call": "leak()", "expected": secret}])
    _assert_contained(r, box, "forbidden: read")
    assert secret not in r.stdout
    env_only = "import os\ndef leak():\n    print(dict(os.environ))\n    return os.environ.get('COURSE_SANDBOX_SECRET')\n"
    r = run_program(env_only, [{"call": "leak()", "expected": secret}])
    _assert_contained(r, box, "ok")
    assert secret not in r.stdout and "COURSE_SANDBOX_SECRET" not in r.stdout


def test_os_exit_before_or_during_the_tests_scores_zero(box):
    _assert_contained(run_program("import os\nos._exit(0)\n", DOUBLE_TESTS), box, "crashed")
    src = "import os\ndef solve(n):\n    os._exit(0)\n"
    _assert_contained(run_program(src, DOUBLE_TESTS), box, "crashed")


def test_killing_its_parent_is_refused_and_the_caller_survives(box):
    caller = os.getpid()
    src = "import os\nos.kill(os.getppid(), 9)\ndef solve(n):\n    return 2 * n\n"
    _assert_contained(run_program(src, DOUBLE_TESTS), box, "forbidden: signal")
    src = "import os\nos.killpg(os.getpgid(0), 9)\n"
    _assert_contained(run_program(src, DOUBLE_TESTS), box, "forbidden: signal")
    assert os.getpid() == caller


def test_a_child_process_left_running_is_refused_and_killed(box):
    marker = f"sandbox-leftover-{secrets.token_hex(6)}"
    src = (f"import subprocess, sys\n"
           f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}], start_new_session=True)\n"
           f"def solve(n):\n    return 2 * n\n")
    _assert_contained(run_program(src, DOUBLE_TESTS), box, "forbidden: process", marker=marker)


def test_faking_a_pass_by_printing_does_nothing(box):
    src = ("import json\n"
           "print('3/3 tests passed')\n"
           "print(json.dumps({'kind': 'results', 'status': 'ok', 'outcomes': [{'value': '6'}] * 3}))\n"
           "def solve(n):\n    return None\n")
    _assert_contained(run_program(src, DOUBLE_TESTS), box, "ok")


def test_forging_the_result_record_with_the_nonce_gains_nothing(box):
    # The program finds the harness's settings (nonce and result descriptor) by walking the garbage
    # collector, writes a well-formed record of its own and exits before the harness can. It still
    # scores 0: the expected values were never in its process, so it cannot know what to claim.
    src = ("import gc, os\n"
           "cfg = next(o for o in gc.get_objects() if isinstance(o, dict) and 'nonce' in o and 'calls' in o)\n"
           "n = len(cfg['calls'])\n"
           "line = '{\"nonce\": \"%s\", \"kind\": \"results\", \"status\": \"ok\", \"detail\": \"\", \"outcomes\": [%s]}\\n' % (\n"
           "    cfg['nonce'], ', '.join(['{\"value\": \"12345\"}'] * n))\n"
           "os.write(cfg['result_fd'], line.encode())\n"
           "os._exit(0)\n")
    hidden = [{"call": "solve(7)", "expected": 14}, {"call": "solve(11)", "expected": 22}]
    r = run_program(src, hidden)
    _assert_contained(r, box)
    assert r.details == () or all(d != "pass" for d in r.details), r


def test_disarming_the_hooks_exit_does_not_let_a_socket_through(box, listener):
    port, connections = listener
    src = (f"import os\nos._exit = lambda code: None\nimport socket\n"
           f"socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')\n")
    for namespaces in (True, False):
        r = run_program(src, DOUBLE_TESTS, namespaces=namespaces)
        _assert_contained(r, box, "forbidden: network")
        assert "connected" not in r.stdout
    assert connections() == 0


# --- the kernel's layers alone (audit hook off), where this machine has them ---------------------

def test_kernel_alone_blocks_network_writes_and_leftover_processes(box, listener):
    if not (_kernel_has("network namespace") and _kernel_has("pid namespace") and _kernel_has("read-only")):
        pytest.skip(f"the kernel's namespaces are not available here: {available_protections()[1]}")
    port, connections = listener
    src = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
    r = run_program(src, DOUBLE_TESTS, audit_hook=False)
    _assert_contained(r, box, "crashed")
    assert "Network is unreachable" in r.reason and connections() == 0
    r = run_program(f"open({str(box[1] / 'pwned.txt')!r}, 'w')\n", DOUBLE_TESTS, audit_hook=False)
    _assert_contained(r, box, "crashed")
    assert "No such file or directory" in r.reason  # the repository is not in the program's view
    marker = f"sandbox-leftover-{secrets.token_hex(6)}"
    src = (f"import os, sys\n"
           f"if os.fork() == 0:\n"
           f"    os.setsid()\n"
           f"    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
           f"def solve(n):\n    return None\n")
    r = run_program(src, DOUBLE_TESTS, audit_hook=False)
    # as nobody, RLIMIT_NPROC = 0 holds and the fork fails; as a mapped user it may run and is killed
    assert r.status == "ok" or "Resource temporarily unavailable" in r.reason, r
    _assert_contained(r, box, marker=marker)
    src = "import os\nos.kill(os.getppid(), 9)\ndef solve(n):\n    return None\n"
    _assert_contained(run_program(src, DOUBLE_TESTS, audit_hook=False), box, "ok")


DISARM = """\
import gc
def _disarm():  # replace the audit hook's refusal with a function that lets everything through
    done = 0
    for o in gc.get_objects():
        code = getattr(o, "__code__", None)
        if code is not None and code.co_name == "hook" and "refuse" in code.co_freevars:
            o.__closure__[code.co_freevars.index("refuse")].cell_contents = lambda *a: None
            done += 1
    return done
print("disarmed", _disarm())
def leak(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return type(exc).__name__
"""


def test_a_disarmed_audit_hook_still_shows_no_file_outside_the_view(box, tmp_path):
    """Six lines of gc replace the hook's refusal; the kernel's view and user id must still hold."""
    if not _kernel_has("mount namespace"):
        pytest.skip(f"the kernel's namespaces are not available here: {available_protections()[1]}")
    secret = tmp_path / "secret.txt"
    secret.write_text("the instructor's secret")
    secret.chmod(0o600)
    paths = [str(secret), "/etc/shadow", "/etc/passwd", os.path.expanduser("~/.bashrc"), str(box[1] / "README.md")]
    r = run_program(DISARM, [{"call": f"leak({p!r})", "expected": "FileNotFoundError"} for p in paths])
    assert "disarmed 1" in r.stdout, r  # the hook really was disarmed
    assert r.status == "ok" and r.passed == len(paths), r.details
    assert "secret" not in r.stdout and "root:" not in r.stdout


def test_the_program_cannot_remount_or_write_outside_even_with_native_code(box):
    if not _kernel_has("no capabilities"):
        pytest.skip(f"the kernel's layers are not available here: {available_protections()[1]}")
    src = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "rc = libc.mount(None, b'/', None, 32 | 4096, None)\n"
           "print('remount', rc, ctypes.get_errno(), 'uid', os.getuid())\n"
           "def solve(n):\n    return rc\n")
    r = run_program(src, [{"call": "solve(1)", "expected": -1}], audit_hook=False)
    assert r.status == "ok" and r.passed == 1, r
    if os.geteuid() == 0:
        assert "uid 65534" in r.stdout  # root's programs run as nobody


def test_a_boundary_without_a_required_layer_is_refused_with_the_reason():
    from course_lib import isolation

    full = ["pid namespace", "mount namespace", "no capabilities, no_new_privs", isolation.VIEW]
    assert isolation.lacking(full, []) is None
    why = isolation.lacking(full[1:], ["pid namespace (Operation not permitted)"])
    assert "pid namespace" in why and "Operation not permitted" in why
    assert "read-only filesystem" in isolation.lacking(full[:3], [])


def test_audit_hook_alone_blocks_the_hostile_programs(box, listener):
    port, connections = listener
    cases = {f"import socket\nsocket.create_connection(('127.0.0.1', {port}))\n": "forbidden: network",
             f"open({str(box[1] / 'pwned.txt')!r}, 'a')\n": "forbidden: write",
             "import os\nos.fork()\n": "forbidden: process",
             "import os\nos.kill(os.getppid(), 9)\n": "forbidden: signal",
             "import ctypes\n": "forbidden: native code",
             "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n": "forbidden: limits"}
    for src, status in cases.items():
        _assert_contained(run_program(src, DOUBLE_TESTS, namespaces=False), box, status)
    assert connections() == 0


# --- the problems and candidates of notebook 06 ----------------------------------------------------

def test_every_candidate_scores_what_its_kind_says(box):
    from course_lib.tasks.code import KINDS, candidates, format_table, score_table
    rows = score_table(time_limit=4.0)  # generous for a busy CI machine; the slow ones still time out
    assert [r["candidate"] for r in rows] == [c.name for c in candidates()]
    assert {r["kind"] for r in rows} == set(KINDS)
    for r in rows:
        vis, hid = r["visible"], r["hidden"]
        if r["kind"] == "correct":
            assert (vis, hid, r["status"]) == (1.0, 1.0, "ok"), r
        elif r["kind"] in ("off-by-one", "wrong"):
            assert r["status"] == "ok" and min(vis, hid) < 1.0, r
        elif r["kind"] == "visible-test hack":  # passes what it was shown, fails what was held back
            assert vis == 1.0 and hid <= 0.5 and r["status"] == "ok", r
        elif r["kind"] == "slow":
            assert (vis, hid, r["status"]) == (1.0, 0.0, "timeout"), r
        else:
            assert r["kind"] == "hostile" and vis == hid == 0.0, r
    statuses = {r["candidate"]: r["status"] for r in rows}
    assert statuses["steal-tests"] == "forbidden: read" and statuses["phone-home"] == "forbidden: network"
    assert statuses["fork-bomb"] == "forbidden: process" and statuses["spin-forever"] == "timeout"
    assert "visible-test hack" in format_table(rows)
    assert list(box[0].iterdir()) == []


def test_code_task_catalogue_and_bad_names():
    from course_lib.tasks.code import candidate, candidates, problem, problems
    names = [c.name for c in candidates()]
    assert len(names) == len(set(names)) >= 12
    for p in problems():
        assert p.visible and p.hidden and not set(map(str, p.visible)) & set(map(str, p.hidden))
        assert {c.problem for c in candidates(p.name)} == {p.name}
    assert candidate("pal-reverse").kind == "correct"
    assert [c.name for c in candidates("fizzbuzz_count", "slow")] == ["fizz-loop"]
    with pytest.raises(ValueError, match="problem"):
        problem("sort")
    with pytest.raises(ValueError, match="kind"):
        candidates(kind="clever")
    with pytest.raises(ValueError, match="which"):
        problems()[0].tests("secret")


# --- the benchmark command ------------------------------------------------------------------------

def test_bench_sandbox_runs_with_a_tiny_budget(capsys):
    from course_lib.experiments.bench_sandbox import main
    assert main(["--programs", "5", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "programs scored per second:" in out and "overhead" in out and "protections in force:" in out
    assert "statuses: " in out and "ok" in out
