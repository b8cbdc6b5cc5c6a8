"""``check``, ``hint`` and ``solution``: compare a learner's function with the reference, with help.

How a check stays trustworthy:

* **The judge.** When this module is imported, before any learner code can run, it forks a
  *judge* process that holds the registry as it was then. The judge builds each exercise's
  cases and computes the reference's and every registered mistake's outputs (and gradients)
  before the learner's function runs, and it does the comparison. Whatever a notebook cell,
  the learner's function or a thread does later to this process (patching the checker, the
  registry, an exercise's reference, numpy) cannot reach it.
* **The learner's child.** The learner's function runs in a child forked from the kernel for
  each check, with a hard kill at the time limit (a bare ``except:``, a cancelled alarm or a long
  C call cannot outlast it), a memory limit, a cap on what it prints, and its own process
  group. Its answers travel back as data (``wire``: JSON and raw arrays, no pickle), so an
  object whose ``__repr__``, ``__array__`` or comparison misbehaves is described, never trusted;
  ``os._exit`` ends only the child.
* **Bound at import.** ``check`` reaches the judge, the runner and the library's functions
  through references captured when this module was imported (closure cells), not through
  module attributes that a cell could replace.

* **What is checked.** Values within tolerance; for a loss, the gradients with respect to its
  tensor inputs (``Exercise.grad_args``); the promised type (``tensor_out``); inputs left
  untouched; and that the function is not, and does not call, the library's implementation
  (``Exercise.library``: in the child those functions' code is swapped for a trap).

Off Linux (Windows has no ``fork``; on macOS a forked child can crash) the check runs
in-process with a thread-based time limit: the same comparisons, without the isolation.

Limits: a check result is formative evidence, not proof. A learner who wants to cheat can
still replace ``check`` itself in their namespace, rewrite a closure cell or the ``__code__`` of
the kernel-side functions, reach the judge's socket and send it answers computed by the library,
copy the library's code into a fresh function object (``types.FunctionType``), kill the judge
(checks then say so and record no pass), or edit the notebook's JSON. Grading that must be
trusted re-runs the learner's functions in a fresh process (see ``results_from_notebook``).
"""
from __future__ import annotations

import html
import inspect
import os
import pickle
import re
import signal
import socket
import struct
import sys
import textwrap
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from . import judge as _judge
from . import runner as _runner
from .judge import compare_outputs  # noqa: F401 - part of the public API
from .registry import Exercise, load_catalog, get_exercise, list_exercises, short_repr, teaching_source  # noqa: F401
from .texts import case_label, exercise_text, mistake_hint, say, solution_text
from ..i18n import current_lang

# The MIME type under which every check result is stored in a notebook's outputs, so that
# grading can read executed notebooks (see ``results_from_notebook``).
RESULT_MIME = "application/vnd.course-lib.check.v1+json"
RECORD_SCHEMA = "course_lib.check/1"

PASSED, FAILED, NOT_ATTEMPTED, ERROR, TIMEOUT, INVALID, LIBRARY = (
    _judge.PASSED, _judge.FAILED, _judge.NOT_ATTEMPTED, _judge.ERROR, _judge.TIMEOUT, _judge.INVALID,
    _judge.LIBRARY,
)
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, ERROR, TIMEOUT, INVALID, LIBRARY)
_ICON = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "✏️", ERROR: "💥", TIMEOUT: "⏱️", INVALID: "⚠️", LIBRARY: "📚"}


class ExerciseFailed(AssertionError):
    """Raised by ``check(..., strict=True)`` when the check does not pass."""

    def __init__(self, result: "CheckResult"):
        super().__init__(result.text())
        self.result = result


@dataclass
class CheckResult:
    """The outcome of one ``check`` call.

    Attributes:
        exercise: the exercise name.
        status: "passed", "failed", "not attempted", "error", "timeout", "invalid" or "library"
            (the function is, or calls, the library's own implementation).
        passed: True only when every case matched the reference.
        hint: what to look at next ("" when passed).
        message: one line saying what happened.
        details: the failing case, the learner's error line, ... ("" when none).
        mistake: the name of the recognised common mistake, or None.
        cases_passed, cases_total: how many seeded cases matched.
        seconds: time the learner's function ran in total.
        output: the first part of what the learner's function printed ("" when nothing).
    """

    exercise: str
    status: str
    passed: bool
    hint: str = ""
    message: str = ""
    details: str = ""
    mistake: str | None = None
    cases_passed: int = 0
    cases_total: int = 0
    seconds: float = 0.0
    output: str = ""

    def __post_init__(self):
        self._shown_in: tuple | None = None

    def __bool__(self) -> bool:
        return self.passed

    def record(self) -> dict:
        """The machine-readable form stored in the notebook's output (schema v1)."""
        out = {k: v for k, v in asdict(self).items()}
        out["schema"] = RECORD_SCHEMA
        out["seconds"] = round(self.seconds, 4)
        return out

    def _more_help(self) -> str:
        if self.status not in (FAILED, NOT_ATTEMPTED, ERROR, TIMEOUT, LIBRARY):
            return ""
        return say("more_help", n=repr(self.exercise))

    def text(self) -> str:
        lines = [f"{_ICON.get(self.status, '?')} {self.exercise}: {self.message}"]
        if self.details:
            lines.append(textwrap.indent(self.details, "   "))
        if self.output:
            lines.append(f"   {say('label.printed')}\n" + textwrap.indent(self.output.rstrip("\n"), "   | "))
        if self.hint:
            lines.append(f"   {say('label.hint')} {self.hint}")
        more = self._more_help()
        if more:
            lines.append(f"   {more}")
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _html(self) -> str:
        colour = {PASSED: "#1a7f37", NOT_ATTEMPTED: "#6e7781"}.get(self.status, "#cf222e")
        parts = [
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">',
            f"<b>{_ICON.get(self.status, '?')} {html.escape(self.exercise)}</b>: {html.escape(self.message)}",
        ]
        if self.details:
            parts.append(f'<pre style="margin:4px 0">{html.escape(self.details)}</pre>')
        if self.output:
            parts.append(f'<div>{html.escape(say("label.printed"))}</div><pre style="margin:4px 0">{html.escape(self.output)}</pre>')
        if self.hint:
            parts.append(f"<div><b>{html.escape(say('label.hint'))}</b> {html.escape(self.hint)}</div>")
        more = self._more_help()
        if more:
            parts.append(f'<div style="color:#6e7781">{html.escape(more)}</div>')
        parts.append("</div>")
        return "".join(parts)

    def mime_bundle(self) -> dict:
        return {"text/plain": self.text(), "text/html": self._html(), RESULT_MIME: self.record()}

    def _ipython_display_(self) -> None:
        # check() displays its result; when the same cell also ends with the result as its
        # value, IPython asks again: show it once per cell execution.
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        where = (id(shell), getattr(shell, "execution_count", None))
        if self._shown_in == where:
            return
        self._shown_in = where
        display(self.mime_bundle(), raw=True)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _show(result: CheckResult) -> None:
    if _in_ipython():
        from IPython.display import display

        display(result)
    else:
        print(result.text())


# --- the judge process ------------------------------------------------------------------------------


def _serve(sock: socket.socket) -> None:
    """The judge's loop: one reply (pickled, length-prefixed) per request frame, until EOF."""
    from .wire import unpack_frames

    server = _judge.Judge(get_exercise)
    buf = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        buf += chunk
        if len(buf) > 200 * 2**20:  # nobody honest sends this much: drop it
            buf.clear()
            continue
        try:
            frames = unpack_frames(buf)
        except Exception:  # noqa: BLE001 - a garbled request is dropped, never fatal
            buf.clear()
            frames = [({"kind": "garbled"}, b"")]
        for head, blob in frames:
            try:
                reply = server.handle(head, blob)
            except Exception as exc:  # noqa: BLE001 - a bug in the library's cases, not the learner's
                reply = {"ok": False, "error": f"the checker failed on this exercise: {type(exc).__name__}: {exc}",
                         "internal": True}
            reply["id"] = head.get("id")  # lets the kernel skip a reply it stopped waiting for
            data = pickle.dumps(reply)
            sock.sendall(struct.pack(">Q", len(data)) + data)


def _become_judge(sock: socket.socket, keep: int) -> None:
    """In the freshly forked judge: detach from the kernel's streams and signals, then serve."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kernel's interrupt is not for the judge
        try:
            import ctypes

            if threading.current_thread() is threading.main_thread():
                ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the kernel
        except Exception:  # noqa: BLE001
            pass
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        sys.stdout = sys.stderr = open(os.devnull, "w")
        try:
            max_fd = os.sysconf("SC_OPEN_MAX")
        except (ValueError, OSError):
            max_fd = 1024
        os.closerange(3, keep)
        os.closerange(keep + 1, min(max_fd, 65536))
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(1)
        _serve(sock)
    finally:
        os._exit(0)


class _no_interrupt:
    """Hold back Ctrl-C (SIGINT) while a request to the judge is in flight, so an interrupt can
    never leave half a reply in the connection; it is delivered right after."""

    def __enter__(self):
        self.held = _runner.hold_sigint()

    def __exit__(self, *exc):
        _runner.release_sigint(self.held)


class JudgeClient:
    """The kernel's end of the judge: one request at a time, answered by the judge process."""

    def __init__(self):
        from .wire import pack_frame

        self.lock = threading.Lock()
        self.counter = 0
        # bound now, so that patching these modules later cannot change what a reply says
        self._loads, self._unpack, self._pack_frame = pickle.loads, struct.unpack, pack_frame
        self.sock: socket.socket | None = None
        self.pid: int | None = None
        self.local: _judge.Judge | None = None
        if not _runner.fork_available():
            self.local = _judge.Judge(get_exercise)
            return
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _become_judge(theirs, theirs.fileno())
        theirs.close()
        ours.settimeout(30)  # the judge answers in well under a second; never wait forever
        self.sock, self.pid = ours, pid

    def fileno(self) -> int | None:
        return self.sock.fileno() if self.sock is not None else None

    def request(self, head: dict, blob: bytes = b"") -> dict:
        if self.local is not None:
            return self.local.handle(dict(head), blob)
        with self.lock, _no_interrupt():
            self.counter += 1
            ident = self.counter
            try:
                head = dict(head, id=ident)
                self.sock.sendall(self._pack_frame(head.pop("kind"), head, blob))
                while True:  # an interrupted earlier request may have left its reply unread
                    size = self._unpack(">Q", self._recv_exactly(8))[0]
                    reply = self._loads(self._recv_exactly(size))
                    if isinstance(reply, dict) and reply.get("id") == ident:
                        return reply
            except (OSError, EOFError, struct.error, pickle.UnpicklingError) as exc:
                return {"ok": False, "internal": True,
                        "error": say("judge_silent.message", error=type(exc).__name__)}

    def _recv_exactly(self, n: int) -> bytes:
        parts, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise EOFError("the judge closed the connection")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)


def _resolve(qualified: str) -> Any:
    import importlib

    module, _, attr = qualified.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _library_objects() -> dict[str, list]:
    out: dict[str, list] = {}
    for name in list_exercises():
        ex = get_exercise(name)
        objs = []
        for q in ex.library:
            try:
                objs.append(_resolve(q))
            except (ImportError, AttributeError):
                pass
        out[name] = objs
    return out


# --- check -------------------------------------------------------------------------------------------


def _signature_problem(fn: Callable, signature: str, args: tuple, kwargs: dict) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return None
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        return say("signature.details", function=getattr(fn, '__name__', 'fn'), signature=sig, expected=signature,
                   error=exc)
    return None


def _is_library_code(fn: Any, library: list) -> bool:
    """The learner passed the library's function itself (or a copy of its code object)."""
    target = inspect.unwrap(fn) if callable(fn) else fn
    code = getattr(target, "__code__", None)
    for obj in library:
        lib = inspect.unwrap(obj)
        if target is lib or fn is obj:
            return True
        lib_code = getattr(lib, "__code__", None)
        if code is not None and lib_code is not None and code.co_code == lib_code.co_code \
                and code.co_consts == lib_code.co_consts and code.co_names == lib_code.co_names:
            return True
    return False


def _library_result(name: str, total: int) -> CheckResult:
    return CheckResult(
        name, LIBRARY, False, cases_total=total,
        message=say("library.message"), hint=say("library.hint"))


def _outcome_result(name: str, outcome, labels: list[str], time_limit: float) -> CheckResult | None:
    """A CheckResult for every way the child can end other than with all its answers (else None)."""
    total = len(labels)
    case = outcome.case
    where = say("where", case=case + 1, label=case_label(name, case, labels[case])) if 0 <= case < total else ""
    common = dict(cases_total=total, seconds=outcome.seconds, output=_shown_output(outcome))
    if outcome.status == "ok":
        return None
    if outcome.status == "not_attempted":
        return CheckResult(name, NOT_ATTEMPTED, False, message=say("not_attempted.message"),
                           hint=say("not_attempted.hint"), **common)
    if outcome.status == "library":
        result = _library_result(name, total)
        result.output = common["output"]
        return result
    if outcome.status == "timeout":
        return CheckResult(
            name, TIMEOUT, False,
            message=say("timeout.message", limit=time_limit, case=case + 1, total=total),
            details=where, hint=say("timeout.hint"), **common)
    if outcome.status == "output":
        return CheckResult(
            name, ERROR, False,
            message=say("output.message", mb=_runner.OUTPUT_LIMIT // 2**20, case=case + 1, total=total),
            details=where, hint=say("output.hint"), **common)
    if outcome.status == "error":
        if outcome.memory:
            return CheckResult(
                name, ERROR, False,
                message=say("memory.message", case=case + 1, total=total, gb=_runner.MEMORY_LIMIT // 2**30),
                details=f"{where}\n{outcome.error}", hint=say("memory.hint"), **common)
        ex = get_exercise(name)
        known = next((m for m in ex.mistakes if m.error and re.search(m.error, outcome.error or "")), None)
        return CheckResult(
            name, ERROR, False, message=say("error.message", case=case + 1, total=total),
            details=f"{where}\n{outcome.error}", mistake=known.name if known else None,
            hint=mistake_hint(ex, known) if known else say("error.hint"), **common)
    if outcome.status == "interrupted":
        return CheckResult(name, ERROR, False, message=say("interrupted.message"), **common)
    if outcome.status == "too_large":
        return CheckResult(name, INVALID, False, message=say("too_large.message"), details=where,
                           hint=say("too_large.hint"), **common)
    code = outcome.exit_code
    if code is not None and code < 0:
        try:
            what = say("killed.signal", signal=signal.Signals(-code).name)
        except ValueError:
            what = say("killed.signal_number", number=-code)
    else:
        what = say("killed.exit", code=code)
    return CheckResult(name, ERROR, False, message=say("killed.message", what=what, case=case + 1, total=total),
                       details=where, hint=say("killed.hint"), **common)


def _shown_output(outcome) -> str:
    text = outcome.printed
    if not text:
        return ""
    shown = text[: _runner.OUTPUT_SHOWN]
    if outcome.printed_bytes > len(shown.encode("utf-8", errors="replace")):
        shown += "\n" + say("printed_more", total=outcome.printed_bytes, shown=_runner.OUTPUT_SHOWN)
    return shown


def _make_check(client: JudgeClient, library: dict, run_in_child, run_case, encode, pack_frame,
                fork_available: Callable[[], bool], unpack_frames: Callable | None = None):
    """``check``, with everything it uses bound here, at import (see the module docstring)."""
    _pickle_loads = pickle.loads
    _CheckResult = CheckResult
    _outcome_result_ = _outcome_result
    _shown_output_ = _shown_output
    _signature_problem_ = _signature_problem
    _is_library_code_ = _is_library_code
    _library_result_ = _library_result
    _run_in_process_ = _run_in_process
    _show_ = _show

    def run(name: Any, fn: Any) -> CheckResult:
        label = name if isinstance(name, str) else repr(name)
        head = {"kind": "prepare", "name": name} if isinstance(name, str) else \
            {"kind": "prepare", "name": None, "name_type": type(name).__name__}
        reply = client.request(head)
        if not reply.get("ok"):
            if reply.get("internal"):
                return _CheckResult(label, ERROR, False, message=reply["error"])
            return _CheckResult(label, INVALID, False, message=reply["error"], hint=say("unknown_exercise.hint"))
        ex_name = reply["name"]
        labels = reply["labels"]
        total = len(labels)
        if not callable(fn):
            return _CheckResult(
                ex_name, INVALID, False, cases_total=total,
                message=say("not_callable.message", type=type(fn).__name__, value=short_repr(fn)),
                hint=say("not_callable.hint", name=repr(ex_name)))
        calls = _pickle_loads(reply["calls"])
        problem = _signature_problem_(fn, reply["signature"], calls[0][0], calls[0][1])
        if problem:
            return _CheckResult(ex_name, INVALID, False, message=say("signature.message"), details=problem,
                                hint=say("signature.hint", signature=reply["signature"]), cases_total=total)
        lib = library.get(ex_name, [])
        if _is_library_code_(fn, lib):
            return _library_result_(ex_name, total)
        if fork_available():
            outcome = run_in_child(fn, calls, reply["names"], lib, reply["time_limit"],
                                   close_fds=[client.fileno()], run_case=run_case, encode=encode,
                                   pack_frame=pack_frame, unpack_frames=unpack_frames)
        else:
            outcome = _run_in_process_(fn, calls, reply["names"], reply["time_limit"], run_case, encode)
        early = _outcome_result_(ex_name, outcome, labels, reply["time_limit"])
        if early is not None:
            return early
        blob = b"".join(pack_frame("case", {}, b) for b in outcome.blobs)
        answer = client.request({"kind": "judge", "name": ex_name, "seconds": outcome.seconds,
                                 "lang": current_lang()}, blob)
        if not answer.get("ok"):
            return _CheckResult(ex_name, ERROR, False, message=answer.get("error", say("judge_failed.message")))
        v = answer["verdict"]
        return _CheckResult(
            v["exercise"], v["status"], bool(v.get("passed", False)), hint=v.get("hint", "") or "",
            message=v.get("message", ""), details=v.get("details", "") or "", mistake=v.get("mistake"),
            cases_passed=int(v.get("cases_passed", 0)), cases_total=int(v.get("cases_total", total)),
            seconds=float(v.get("seconds", outcome.seconds)), output=_shown_output_(outcome))

    def check(name: str, fn: Callable, *, strict: bool = False) -> CheckResult:
        """Check a learner's implementation of exercise ``name`` against the library's reference.

        Runs ``fn`` on the exercise's seeded cases in a separate process, under a time limit,
        and compares each output (and, for a loss, its gradients) with the reference's. A wrong
        answer that matches a registered common mistake gets that mistake's hint; ``hint(name)``
        gives more help, step by step. A function that still raises NotImplementedError is "not
        attempted"; one that is, or calls, the library's own implementation is refused; an
        exception, a time-out or a crash is reported with the learner's own failing line. The
        result is shown (and stored in the notebook's output for grading) and returned.

        Args:
            name: the exercise, e.g. "discounted_returns" (see ``list_exercises()``).
            fn: the learner's function.
            strict: raise ExerciseFailed unless the check passes (for tests and scripts); by
                default nothing is ever raised into the notebook.

        Returns:
            A CheckResult; ``result.passed`` and ``result.hint`` say how it went.
        """
        try:
            result = run(name, fn)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - check() never raises into the notebook
            label = name if isinstance(name, str) else repr(name)
            result = _CheckResult(label, ERROR, False,
                                  message=say("check_failed.message", error=f"{type(exc).__name__}: {exc}"))
        _show_(result)
        if strict and not result.passed:
            raise ExerciseFailed(result)
        return result

    return check


def _run_in_process(fn, calls, names, time_limit, run_case, encode):
    """The fallback without ``fork``: the same calls, in this process, with a thread time limit."""
    import copy

    outcome = _runner.ChildOutcome("ok")
    clock = _runner.Stopwatch(time_limit)
    started = time.perf_counter()
    for i, call in enumerate(calls):
        outcome.case = i
        args, kwargs, weight = copy.deepcopy(call)
        try:
            rec = _runner.call_with_time_limit(lambda: run_case(fn, args, kwargs, names, weight), clock.left())
            outcome.blobs.append(encode(rec))
        except NotImplementedError:
            outcome.status = "not_attempted"
            return outcome
        except _runner.TimeLimitExceeded:
            outcome.status = "timeout"
            return outcome
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001
            outcome.status = "error"
            outcome.error = _runner.describe_learner_error(exc)
            outcome.memory = isinstance(exc, MemoryError)
            return outcome
    outcome.seconds = time.perf_counter() - started
    return outcome


# --- hint and solution ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hint:
    """One rung of an exercise's help ladder, for display."""

    exercise: str
    level: int
    text: str
    next: str = ""  # how to ask for the next rung

    def _title(self) -> str:
        return say(f"ladder.{self.level}") if self.level in (1, 2, 3) else "help"

    def __str__(self) -> str:
        out = say("ladder.title", level=self.level, exercise=self.exercise, title=self._title()) + f"\n{self.text}"
        return out + (f"\n{self.next}" if self.next else "")

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        out = say("ladder.title_markdown", level=self.level, exercise=self.exercise, title=self._title())
        out += f"\n\n{self.text}"
        return out + (f"\n\n*{self.next}*" if self.next else "")


def hint(name: str, level: int = 1) -> Hint:
    """Help with exercise ``name``, one rung at a time: 1 a nudge, 2 the formula, 3 code-level help.

    Raises:
        KeyError: no exercise of that name (the message suggests close names).
        ValueError: ``level`` is not 1, 2 or 3.
    """
    ex = get_exercise(name)
    if isinstance(level, bool) or not isinstance(level, int) or level not in (1, 2, 3):
        raise ValueError(f"level must be 1 (a nudge), 2 (the formula) or 3 (code-level help), got {level!r}")
    text = exercise_text(ex, ("hint", "formula", "code_hint")[level - 1]) or say("ladder.none")
    nxt = (say("ladder.next", name=repr(ex.name), level=level + 1) if level < 3
           else say("ladder.last", name=repr(ex.name)))
    return Hint(ex.name, level, text, nxt)


@dataclass(frozen=True)
class Solution:
    """A short teaching solution of an exercise, shown as code."""

    exercise: str
    source: str

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source

    def _repr_markdown_(self) -> str:
        return f"{say('solution.header', exercise=self.exercise)}\n\n```python\n{self.source}```"


def solution(name: str) -> Solution:
    """A short, self-contained teaching solution of exercise ``name``, for display."""
    ex = get_exercise(name)
    return Solution(ex.name, solution_text(ex))


# --- bound at import ---------------------------------------------------------------------------------

load_catalog()
_CLIENT = JudgeClient()
check = _make_check(_CLIENT, _library_objects(), _runner.run_in_child, _judge.run_case,
                    __import__("course_lib.exercises.wire", fromlist=["encode"]).encode,
                    __import__("course_lib.exercises.wire", fromlist=["pack_frame"]).pack_frame,
                    _runner.fork_available,
                    __import__("course_lib.exercises.wire", fromlist=["unpack_frames"]).unpack_frames)


def use_if_passed(result: CheckResult, yours: Callable, library: Callable) -> Callable:
    """The function the rest of a notebook should use: ``yours`` if its check passed, else the
    library's, saying which in one line. A buggy attempt then never stops "Run All".

        kl = use_if_passed(check("kl_k3", my_kl_k3), my_kl_k3, course_kl_k3)
    """
    name = getattr(result, "exercise", "the exercise")
    if isinstance(result, CheckResult) and result.passed and callable(yours):
        print(say("use.yours", function=getattr(yours, '__name__', 'function')))
        return yours
    print(say("use.library", exercise=name))
    return library
