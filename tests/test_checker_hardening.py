"""The check cannot be fooled by patching, hung, crashed or flooded (issue 13 §1).

Every attack runs from this (the kernel's) process or from inside the learner's function; the
expectations live in the judge process forked at import, the learner's function runs in a child.
"""
import inspect
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import course_lib.exercises as exercises
from course_lib import mdp
from course_lib.exercises import check, checker, get_exercise, judge, registry, runner, wire

LIMIT = get_exercise("discounted_returns").time_limit


def correct(rewards, gamma, dones=None):
    out, g = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        if dones is not None and dones[t]:
            g = 0.0
        g = rewards[t] + gamma * g
        out[t] = g
    return out


def wrong(rewards, gamma, dones=None):
    return np.zeros(len(rewards))


def wrong_td(V, s, r, s_next, terminated, alpha, gamma):
    return np.array(V, dtype=float) * 0.0


def test_baseline():
    assert check("discounted_returns", correct).passed
    assert not check("discounted_returns", wrong).passed


def test_patching_the_checker_registry_and_reference_from_a_cell_changes_nothing(monkeypatch):
    everything_equal = lambda *a, **k: None  # noqa: E731
    monkeypatch.setattr(checker, "compare_outputs", everything_equal)
    monkeypatch.setattr(judge, "compare_outputs", everything_equal)
    monkeypatch.setattr(judge, "_value_diff", everything_equal)
    monkeypatch.setattr(judge, "judge", lambda prep, records, seconds=0.0: {"status": "passed", "passed": True})
    monkeypatch.setattr(checker, "_outcome_result", lambda *a, **k: None)
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    import pickle

    fake_pass = {"ok": True, "verdict": {"exercise": "x", "status": "passed", "passed": True}}
    real_loads = pickle.loads
    monkeypatch.setattr(pickle, "loads", lambda data, *a, **k: dict(real_loads(data), **fake_pass)
                        if isinstance(real_loads(data), dict) and "verdict" in real_loads(data) else real_loads(data))
    monkeypatch.setattr(wire, "encode", lambda value: b"garbage")
    fake = registry.Exercise("discounted_returns", wrong, lambda: [registry.Case((np.ones(2), 0.5))], "f")
    monkeypatch.setitem(registry._REGISTRY, "discounted_returns", fake)
    monkeypatch.setitem(registry._REGISTRY, "td0_update", fake)
    ex = get_exercise("bellman_backup")
    original_reference = ex.reference
    # frozen, but a cheater goes through object.__setattr__
    object.__setattr__(ex, "reference", lambda P, R, V, policy, gamma: np.zeros(len(V)))
    monkeypatch.setattr(mdp.discounted_returns, "__code__", wrong.__code__)
    try:
        assert not check("discounted_returns", wrong).passed
        assert not check("td0_update", wrong_td).passed  # another exercise too
        assert not check("bellman_backup", lambda P, R, V, policy, gamma: np.zeros(len(V))).passed
        assert check("discounted_returns", correct).passed
    finally:
        object.__setattr__(ex, "reference", original_reference)


def test_patching_from_inside_the_learners_function_reaches_only_its_own_process():
    def cheater(rewards, gamma, dones=None):
        import numpy
        import course_lib.exercises.checker as c
        import course_lib.exercises.judge as j
        import course_lib.exercises.registry as r

        numpy.allclose = lambda *a, **k: True
        j.compare_outputs = j._value_diff = lambda *a, **k: None
        c.compare_outputs = lambda *a, **k: None
        r._REGISTRY.clear()
        return numpy.zeros(len(rewards))

    assert not check("discounted_returns", cheater).passed
    assert "discounted_returns" in registry._REGISTRY and np.allclose(1, 2) is False
    assert not check("discounted_returns", wrong).passed
    assert not check("td0_update", wrong_td).passed


def _patch_everything():
    np.allclose = lambda *a, **k: True
    judge.compare_outputs = judge._value_diff = lambda *a, **k: None
    registry._REGISTRY["discounted_returns"] = registry.Exercise(
        "discounted_returns", wrong, lambda: [registry.Case((np.ones(2), 0.5))], "f")


@pytest.fixture
def restore():
    saved = (np.allclose, judge.compare_outputs, judge._value_diff, dict(registry._REGISTRY))
    yield
    np.allclose, judge.compare_outputs, judge._value_diff = saved[:3]
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved[3])


def test_a_thread_patching_now_and_after_check_returns_changes_nothing(restore):
    now = threading.Thread(target=_patch_everything)
    now.start()
    now.join()
    later = threading.Timer(0.3, _patch_everything)  # a delayed patch, after the check below returns
    later.start()
    assert not check("discounted_returns", wrong).passed
    later.join()
    assert not check("discounted_returns", wrong).passed
    assert not check("td0_update", wrong_td).passed


def test_reaching_the_cases_through_frames_cannot_change_the_expectations():
    def snoop(rewards, gamma, dones=None):
        import sys as _sys

        frame = _sys._getframe()
        while frame is not None:  # zero every array the check's frames hold, then answer zeros
            for value in list(frame.f_locals.values()):
                for x in value if isinstance(value, (list, tuple)) else [value]:
                    for y in x if isinstance(x, (list, tuple)) else [x]:
                        if isinstance(y, np.ndarray) and y.dtype.kind == "f":
                            y[...] = 0.0
            frame = frame.f_back
        return np.zeros(len(rewards))

    assert not check("discounted_returns", snoop).passed
    assert check("discounted_returns", correct).passed


def _timed(fn):
    start = time.perf_counter()
    result = check("discounted_returns", fn)
    return result, time.perf_counter() - start


def _swallows_everything(rewards, gamma, dones=None):
    while True:
        try:
            time.sleep(0.001)
        except:  # noqa: E722 - the point of the test
            pass


def _cancels_the_timer(rewards, gamma, dones=None):
    import signal

    signal.alarm(0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass


def _long_c_call(rewards, gamma, dones=None):
    time.sleep(30)  # one C call


class _Hangs:
    def __array__(self, *a, **k):
        while True:
            pass

    def __eq__(self, other):
        while True:
            pass


def _returns_a_hanging_object(rewards, gamma, dones=None):
    return _Hangs()


@pytest.mark.timeout(60)
def test_nothing_outlasts_the_time_limit():
    attacks = [_swallows_everything, _cancels_the_timer, _long_c_call, _returns_a_hanging_object]
    results = [None] * len(attacks)

    def run(i):
        results[i] = _timed(attacks[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attacks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for fn, (result, seconds) in zip(attacks, results):
        assert result.status == "timeout", (fn.__name__, result.text())
        assert seconds < LIMIT + 2.0, (fn.__name__, seconds)


class _Explodes:
    def __array__(self, *a, **k):
        raise RuntimeError("no array for you")

    def __repr__(self):
        raise ValueError("no repr either")

    def __len__(self):
        raise TypeError("nor a length")

    def __eq__(self, other):
        raise RuntimeError("nor equality")


class _StrExplodes(Exception):
    def __str__(self):
        raise RuntimeError("str raises too")


def test_returned_objects_whose_conversion_or_repr_raises_are_described_not_raised():
    result = check("discounted_returns", lambda rewards, gamma, dones=None: _Explodes())
    assert result.status == "invalid" and "_Explodes" in result.details
    result = check("discounted_returns", lambda rewards, gamma, dones=None: (x for x in rewards))
    assert result.status == "invalid" and "generator" in result.details
    result = check("discounted_returns", lambda rewards, gamma, dones=None: [_Explodes()] * len(rewards))
    assert not result.passed
    result = check("td0_update", lambda V, s, r, s_next, terminated, alpha, gamma: (_ for _ in ()).throw(_StrExplodes()))
    assert result.status == "error" and "_StrExplodes" in result.details


def test_os_exit_and_kill_end_only_the_child():
    def exits(rewards, gamma, dones=None):
        os._exit(3)

    result = check("discounted_returns", exits)
    assert result.status == "error" and "exit code 3" in result.message and "os._exit" in result.hint

    def kills_itself(rewards, gamma, dones=None):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    result = check("discounted_returns", kills_itself)
    assert result.status == "error" and "SIGKILL" in result.message

    def exits_politely(rewards, gamma, dones=None):
        sys.exit(0)

    result = check("discounted_returns", exits_politely)
    assert result.status == "error" and "SystemExit" in result.details
    assert check("discounted_returns", correct).passed  # we are alive, and so is the judge


def test_a_memory_bomb_is_stopped_by_the_memory_limit():
    def one_huge_array(rewards, gamma, dones=None):
        return np.ones(10**11)  # 800 GB

    def ever_growing(rewards, gamma, dones=None):
        hoard = []
        while True:
            hoard.append(bytearray(50 * 2**20))

    for fn in (one_huge_array, ever_growing):
        result, seconds = _timed(fn)
        assert result.status == "error" and "out of memory" in result.message, result.text()
        assert seconds < LIMIT + 2.0


def test_printing_a_gigabyte_is_cut_short_and_the_start_is_shown():
    def chatty(rewards, gamma, dones=None):
        chunk = "spam " * 200_000 + "\n"  # 1 MB
        for _ in range(1024):  # 1 GB in all
            print(chunk, end="")
        return correct(rewards, gamma, dones)

    result, seconds = _timed(chatty)
    assert result.status == "error" and "printed more than" in result.message
    assert result.output.startswith("spam spam") and len(result.output) < 3 * runner.OUTPUT_SHOWN
    assert seconds < LIMIT + 2.0

    def prints_a_little(rewards, gamma, dones=None):
        print("G =", 42)
        return correct(rewards, gamma, dones)

    result = check("discounted_returns", prints_a_little)
    assert result.passed and "G = 42" in result.output and "G = 42" in result.text()


def test_an_answer_that_cannot_be_sent_back_is_an_invalid_return_type():
    result = check("discounted_returns", lambda rewards, gamma, dones=None: lambda: 0)
    assert result.status == "invalid" and "function" in result.details
    assert "Return numbers" in result.hint


def test_the_wire_format_runs_no_code_and_rejects_garbage():
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(wire.WireError):
        wire.decode(pickle.dumps(Evil()))
    with pytest.raises(wire.WireError):
        wire.decode(b"\x00" * 3)
    value = (np.arange(3.0), [1, 2.5, None, "x"], {"k": np.float64(2.0)}, True)
    back = wire.decode(wire.encode(value))
    assert np.array_equal(back[0], value[0]) and back[1] == [1, 2.5, None, "x"] and back[3] is True
    deep = []
    for _ in range(100):
        deep = [deep]
    assert isinstance(wire.decode(wire.encode(deep)), list)  # cut at MAX_DEPTH, described


def test_a_dead_judge_gives_a_clear_message_and_no_pass():
    script = (
        "import os, signal, numpy as np\n"
        "from course_lib.exercises import check, checker\n"
        "os.kill(checker._CLIENT.pid, signal.SIGKILL)\n"
        "r = check('discounted_returns', lambda rewards, gamma, dones=None: np.zeros(len(rewards)))\n"
        "print('STATUS', r.status, r.passed, 'Restart the kernel' in r.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "STATUS error False True" in out.stdout, out.stdout + out.stderr


def test_check_never_raises_on_strange_calls():
    for name, fn in [(None, correct), (3, correct), ("discounted_returns", None), ("discounted_returns", print),
                     ("nope", correct), ("discounted_returns", np.zeros)]:
        result = check(name, fn)
        assert not result.passed
    assert exercises.check is check


# Interrupts are process-wide state (signal handlers and masks, threads left by earlier tests; a
# test run started in the background has SIGINT ignored), so these checks run in a fresh Python
# process with the handler a kernel has: the learner's code
# says when it runs and a thread of the kernel's process then sends Ctrl-C (SIGINT), so no timer can
# race the check.
_INTERRUPT_SCRIPT = """
import os, signal, sys, threading, time
import numpy as np
from course_lib.exercises import check

# a kernel handles Ctrl-C; a process started in the background by a shell (as CI may be) inherits
# SIGINT ignored, and Python then installs no handler of its own
signal.signal(signal.SIGINT, signal.default_int_handler)
started_r, started_w = os.pipe()

def press_ctrl_c_once_the_function_runs():
    # the learner's function cannot signal the kernel (it runs in a pid namespace of its own); it
    # says it has started, and this thread of the kernel's process sends the Ctrl-C then
    os.read(started_r, 1)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=press_ctrl_c_once_the_function_runs, daemon=True).start()

def interrupts_the_kernel_then_hangs(rewards, gamma, dones=None):
    os.write(started_w, b"1")
    while True:
        pass

def correct(rewards, gamma, dones=None):
    out, g = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * g * (1.0 if dones is None else 1.0 - dones[t])
        out[t] = g
    return out

if sys.argv[1] == "other-thread":
    # SIGINT blocked here and open in a bystander thread started before: the kernel must deliver
    # it to the bystander, as it may in a Jupyter kernel, which runs several threads
    bystander = threading.Thread(target=threading.Event().wait, daemon=True)
    bystander.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
start = time.perf_counter()
try:
    check("discounted_returns", interrupts_the_kernel_then_hangs)
    print("NOT INTERRUPTED")
except KeyboardInterrupt:
    print(f"INTERRUPTED after {time.perf_counter() - start:.2f} s")
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
print("THEN", check("discounted_returns", correct).passed)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["main-thread", "other-thread"])
def test_an_interrupt_stops_the_check_at_once_kills_the_child_and_leaves_the_checker_working(where):
    out = subprocess.run([sys.executable, "-c", _INTERRUPT_SCRIPT, where], capture_output=True, text=True,
                         timeout=100)
    text = out.stdout + out.stderr
    assert "INTERRUPTED after" in out.stdout, text
    seconds = float(out.stdout.split("INTERRUPTED after ")[1].split()[0])
    assert seconds < 3.0, text  # at once, not at the 5 s time limit
    assert "THEN True" in out.stdout, text  # the checker still works
    assert out.returncode == 0, text  # and no child was left behind holding the process up


def test_without_fork_the_same_check_runs_in_process():
    client = object.__new__(checker.JudgeClient)
    client.local = judge.Judge(get_exercise)
    client.sock = None
    local_check = checker._make_check(client, {}, runner.run_in_child, judge.run_case, wire.encode,
                                      wire.pack_frame, lambda: False)
    assert local_check("discounted_returns", correct).passed
    result = local_check("discounted_returns", wrong)
    assert result.status == "failed" and result.hint
    assert local_check("td0_update", lambda *a: (_ for _ in ()).throw(NotImplementedError())).status == "not attempted"


_SIGNAL_AND_LEAVE_SCRIPT = """
import os, signal, sys, numpy as np
from course_lib.exercises import check

""" + inspect.getsource(correct) + """
def kills_the_kernel(rewards, gamma, dones=None):
    os.kill(os.getppid(), signal.SIGTERM)
    return correct(rewards, gamma, dones)

def leaves_a_process(rewards, gamma, dones=None):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.chdir("/")
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", sys.argv[1]])
        os._exit(0)
    return correct(rewards, gamma, dones)

print("STATUS", check("discounted_returns", kills_the_kernel).status, flush=True)
print("STATUS", check("discounted_returns", leaves_a_process).status, flush=True)
"""


def test_the_checked_function_cannot_signal_the_kernel_or_leave_a_process():
    from course_lib import isolation

    ctypes, lib = isolation.libc()
    if lib is None:
        pytest.skip("Linux only: the check's own pid namespace")
    marker = f"check-leftover-{os.getpid()}-{time.time_ns()}"
    out = subprocess.run([sys.executable, "-c", _SIGNAL_AND_LEAVE_SCRIPT, marker], capture_output=True,
                         text=True, timeout=120)
    time.sleep(0.5)
    left = [e for e in os.listdir("/proc") if e.isdigit() and _cmdline_has(e, marker)]
    for pid in left:
        os.kill(int(pid), 9)
    if out.returncode == -15 and "STATUS" not in out.stdout:
        pytest.fail("the learner's function killed the kernel (SIGTERM to its parent)")
    assert out.stdout.count("STATUS passed") == 2, out.stdout + out.stderr
    assert left == [], "a detached process of the learner's function outlived the check"


def _cmdline_has(pid: str, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False
