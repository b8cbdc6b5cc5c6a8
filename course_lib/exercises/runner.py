"""Running a learner's function safely: a time limit, and the learner's line when it fails."""
from __future__ import annotations

import ctypes
import linecache
import os
import signal
import sysconfig
import threading
import time
import traceback
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
    where = f"line {frame.lineno} of your function {frame.name}"
    if frame is not frames[-1]:
        where += f" (the error itself came from {os.path.basename(frames[-1].filename)})"
    return f"{what}\n  at {where}:\n    {line}" if line else f"{what}\n  at {where}"


class Stopwatch:
    """Counts down one time budget across several calls."""

    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()
