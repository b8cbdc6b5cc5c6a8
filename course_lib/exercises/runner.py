"""Running a learner's function safely: in a child process with a hard time limit, a memory limit
and an output cap (``run_in_child``), and the learner's own line when it fails.

``call_with_time_limit`` is the in-process fallback for platforms without ``fork``.
"""
from __future__ import annotations

import ctypes
import inspect
import linecache
import os
import select
import signal
import sys
import sysconfig
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable


class TimeLimitExceeded(BaseException):
    """Raised inside the learner's code when the time limit is up.

    A BaseException, so a learner's ``except Exception:`` cannot swallow it.
    """


def call_with_time_limit(fn: Callable[[], Any], seconds: float) -> Any:
    """Call ``fn()``; raise TimeLimitExceeded if it runs longer than ``seconds``.

    In the main thread on POSIX (a Jupyter kernel, a script, pytest) a SIGALRM timer
    interrupts the running Python code. Elsewhere the call runs in a helper thread that is
    interrupted with an asynchronous exception. Either way pure-Python loops are stopped; a
    single C call (one huge matrix product) finishes its current operation first.
    """
    if seconds <= 0:
        raise TimeLimitExceeded()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_with_alarm(fn, seconds)
    return _call_in_thread(fn, seconds)


def _call_with_alarm(fn: Callable[[], Any], seconds: float) -> Any:
    def on_alarm(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _call_in_thread(fn: Callable[[], Any], seconds: float) -> Any:
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # carried back to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="course-exercise")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(TimeLimitExceeded)
        )
        worker.join(1.0)
        raise TimeLimitExceeded()
    if "error" in box:
        raise box["error"]
    return box.get("value")


_LIBRARY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SYSTEM_DIRS = tuple(
    os.path.abspath(p)
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _is_learner_frame(filename: str) -> bool:
    path = os.path.abspath(filename)
    return not path.startswith(_LIBRARY_DIR) and not path.startswith(_SYSTEM_DIRS)


def describe_learner_error(exc: BaseException) -> str:
    """'ValueError: ... (line 4 of your function f: `x = y[t + 1]`)', without library frames."""
    frames = traceback.extract_tb(exc.__traceback__)
    learner = [f for f in frames if _is_learner_frame(f.filename)]
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if not learner:
        return what
    frame = learner[-1]
    line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    from .texts import say  # the learner's language (the child inherits the kernel's COURSE_LANG)

    where = say("error.where", line=frame.lineno, function=frame.name)
    if frame is not frames[-1]:
        where += say("error.came_from", file=os.path.basename(frames[-1].filename))
    return f"{what}\n  {where}:\n    {line}" if line else f"{what}\n  {where}"


class Stopwatch:
    """Counts down one time budget across several calls."""

    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()


# --- the learner's function in a child process ---------------------------------------------------

OUTPUT_SHOWN = 2000  # characters of what the learner's function printed that the check shows
OUTPUT_LIMIT = 1 * 2**20  # bytes printed before the child is stopped
MEMORY_LIMIT = 1 * 2**30  # bytes of address space the child may add to what it inherited


class LibraryUsed(BaseException):
    """Raised in the child when the learner's function calls the library's implementation."""


_LIBRARY_CALLED: list[str] = []  # in the child: the library functions the learner called
# Run in the child after its limits are set and before the learner's function is called; empty in a
# learner's kernel. The grader's sub-grader adds its own (``course_lib.grading.regrade``).
CHILD_SETUP: list[Callable[[], None]] = []


def library_used() -> None:
    """In the child: record that the learner's code reached the library, and stop it (LibraryUsed)."""
    _LIBRARY_CALLED.append("called")
    raise LibraryUsed()


def _library_sentinel(*args, **kwargs):
    # Runs with the *library module's* globals (its __code__ replaces the library function's in
    # the child), so it reaches the runner through the import system only.
    runner = __import__("course_lib.exercises.runner", fromlist=["runner"])
    runner._LIBRARY_CALLED.append("called")
    raise runner.LibraryUsed()


@dataclass
class ChildOutcome:
    """What came back from the child that ran the learner's function."""

    status: str  # ok | not_attempted | error | timeout | exited | output | library | too_large
    case: int = -1  # index of the case it stopped on (-1: none)
    error: str = ""  # the learner's error, described (status "error")
    blobs: list = field(default_factory=list)  # encoded record per case (status "ok")
    printed: str = ""  # the first OUTPUT_SHOWN characters the function printed
    printed_bytes: int = 0
    seconds: float = 0.0  # time the learner's calls took, measured in the child
    exit_code: int | None = None
    memory: bool = False  # the error was running out of the memory limit


def fork_available() -> bool:
    """Whether checks run in forked processes: on Linux. Elsewhere (Windows has no fork; on macOS
    forking a process that has loaded system frameworks can crash the child) the check runs in
    the learner's process with a thread-based time limit."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def trap(objs: list) -> None:
    """In the child: calling any of ``objs`` now counts as using the library (LibraryUsed)."""
    _swap_library(objs)


def _swap_library(objs: list) -> None:
    for obj in objs:
        target = inspect.unwrap(obj) if callable(obj) else obj
        try:
            target.__code__ = _library_sentinel.__code__
        except (AttributeError, ValueError, TypeError):
            pass


def _child_main(fn, calls, names, library, res_w, out_w, close_fds, run_case, encode, pack) -> None:
    """In the forked child: run every case, send the records back, exit. Never returns."""
    code = 0
    try:
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        os.setpgid(0, 0)  # its own process group, so the checker can stop everything it starts
        # and its own pid namespace where the kernel allows one: the learner's code cannot signal the
        # kernel (os.kill(os.getppid(), ...)), and a detached process it starts dies with it
        from course_lib.isolation import contain

        contain()
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
        sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
        sys.stdin = open(os.devnull)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            import resource

            limit = _vm_size() + MEMORY_LIMIT
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(1)
        _swap_library(library)
        for setup in CHILD_SETUP:
            setup()

        def send(kind, meta=None, blob=b""):
            data = pack(kind, meta, blob)
            view = memoryview(data)
            while view:
                n = os.write(res_w, view)
                view = view[n:]

        started = time.perf_counter()
        for i, (args, kwargs, weight) in enumerate(calls):
            send("progress", {"case": i})
            try:
                rec = run_case(fn, args, kwargs, names, weight)
                if _LIBRARY_CALLED:
                    raise LibraryUsed()
                blob = encode(rec)
            except NotImplementedError:
                send("not_attempted", {"case": i})
                break
            except LibraryUsed:
                send("library", {"case": i})
                break
            except KeyboardInterrupt:
                send("interrupted", {"case": i})
                break
            except BaseException as exc:  # the learner's bug (SystemExit too): described, not raised
                if _LIBRARY_CALLED:
                    send("library", {"case": i})
                    break
                memory = isinstance(exc, MemoryError) or "can't allocate memory" in _safe_str(exc)
                send("error", {"case": i, "error": _describe_safely(exc), "memory": memory})
                break
            send("case", {"case": i}, blob)
        else:
            send("done", {"seconds": time.perf_counter() - started})
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        code = 70
    finally:
        os._exit(code)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return ""


def _describe_safely(exc: BaseException) -> str:
    try:
        return describe_learner_error(exc)
    except BaseException:  # noqa: BLE001
        return type(exc).__name__


def run_in_child(fn, calls, names, library, time_limit: float, close_fds=(), *, run_case=None, encode=None,
                 pack_frame=None, unpack_frames=None) -> ChildOutcome:
    """Run ``fn`` on every call in a forked child with a hard time limit, a memory limit and an
    output cap. ``calls`` are (args, kwargs, weight); the records come back encoded. The helpers
    default to ``judge.run_case`` and ``wire``'s; ``check`` passes the ones it bound at import."""
    from . import judge, wire

    run_case = run_case or judge.run_case
    encode, pack_frame = encode or wire.encode, pack_frame or wire.pack_frame
    unpack_frames = unpack_frames or wire.unpack_frames

    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    start = time.perf_counter()
    outcome = ChildOutcome("exited")
    buf, printed = bytearray(), bytearray()
    open_fds = {res_r, out_r}
    deadline = start + time_limit
    finished = False
    interrupted = False
    parent_fds = [res_r, out_r, res_w, out_w]
    pid = 0
    # Ctrl-C (SIGINT) is held back in this thread while the child is forked, and the fork is inside
    # the try: an interrupt can never leave a child running that nobody stops
    held = hold_sigint()
    try:
        pid = os.fork()
        if pid == 0:  # the child
            try:
                release_sigint(held)
                os.close(res_r)
                os.close(out_r)
                _child_main(fn, calls, names, library, res_w, out_w, close_fds, run_case, encode, pack_frame)
            finally:
                os._exit(70)  # _child_main never returns; nothing here may reach the caller's code
        release_sigint(held)  # an interrupt that came meanwhile is raised here, inside the try
        held = None
        for fd in (res_w, out_w):  # the child's ends
            parent_fds.remove(fd)
            os.close(fd)
        try:
            os.setpgid(pid, pid)  # the same as the child's own call, whichever runs first
        except OSError:
            pass
        while open_fds:
            left = deadline - time.perf_counter()
            if left <= 0:
                if not finished:
                    outcome.status = "timeout"
                break
            # wake at least every 0.1 s: an interrupt (SIGINT) that the kernel's other threads
            # received is acted on by this thread only between calls, not inside a long select
            ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.1))
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                if fd == out_r:
                    outcome.printed_bytes += len(chunk)
                    if len(printed) < 4 * OUTPUT_SHOWN:
                        printed += chunk[: 4 * OUTPUT_SHOWN - len(printed)]
                    if outcome.printed_bytes > OUTPUT_LIMIT and not finished:
                        outcome.status = "output"
                        open_fds.clear()
                        break
                    continue
                buf += chunk
                if len(buf) > 80 * 2**20:
                    outcome.status = "too_large"
                    open_fds.clear()
                    break
                for head, blob in unpack_frames(buf):
                    kind = head.get("kind")
                    outcome.case = int(head.get("case", outcome.case))
                    if kind == "case":
                        outcome.blobs.append(blob)
                    elif kind == "progress":
                        pass
                    else:
                        finished = True
                        outcome.status = {"done": "ok"}.get(kind, kind)
                        outcome.error = str(head.get("error", ""))
                        outcome.memory = bool(head.get("memory", False))
                        seconds = head.get("seconds", 0.0)
                        outcome.seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
                        deadline = min(deadline, time.perf_counter() + 0.5)  # drain what it printed
    except KeyboardInterrupt:
        interrupted = True
    finally:
        release_sigint(held)
        if pid > 0:
            _stop(pid)
        for fd in parent_fds:  # each closed once: a number closed twice may be another thread's file
            os.close(fd)
    if interrupted:
        raise KeyboardInterrupt
    code = _reap(pid)
    if not finished and outcome.status == "exited":
        outcome.exit_code = code
    if outcome.status != "ok":
        outcome.seconds = time.perf_counter() - start
    outcome.printed = printed.decode("utf-8", errors="replace")
    return outcome


def hold_sigint():
    """Hold back Ctrl-C (SIGINT) in this thread, the main thread only: it stays pending until
    ``release_sigint(held)`` and is delivered then. Returns what that call restores."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask"):
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return None


def release_sigint(held) -> None:
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _stop(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError, OSError):
            pass


def _reap(pid: int) -> int | None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return None
