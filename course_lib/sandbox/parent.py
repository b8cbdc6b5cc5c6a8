"""Run untrusted Python programs against unit tests, for code-execution rewards (notebook 06).

``run_program(source, tests)`` runs ``source`` in a separate, limited process and returns a
``ProgramResult``: how many tests passed, a status ("ok", "timeout", "memory", "output limit",
"crashed", "forbidden: network", ...), a reason a person can read, the start of the output, the
wall-clock, and which protections were in force. ``rewards.code_execution_reward`` wraps it in TRL's
reward convention (fraction of tests passed). ``docs/sandbox.md`` explains every protection and,
just as important, what this sandbox is not.

A test is a dict ``{"call": "solve(3)", "expected": 6}``: ``call`` is a Python expression
evaluated in the program's namespace, ``expected`` a JSON value. **The expected values never enter
the sandboxed process**: the child evaluates the calls and sends back what they returned; the
parent compares. A hostile program can therefore fake, at most, the values its functions return,
which is no more than a program that returns them; it cannot learn a hidden test's answer, and
printing "all tests passed" does nothing.

Processes (the candidate never runs in the caller's process, nor as its child)::

    caller (run_program)                  reads output and results, enforces the wall clock
      └─ supervisor  (new session)        unshares network, pid and mount namespaces; subreaper
           └─ init   (pid 1 inside)       private /proc; a root holding only the interpreter, its
                │                         libraries and the work dir, read-only but the work dir;
                │                         nobody (when root), no capability, no_new_privs
                └─ harness + candidate    a fresh interpreter (exec): rlimits, audit hook, then
                                          the program and the calls

The kernel's layers (namespaces, the filesystem view, user id, capabilities; ``course_lib.isolation``)
are the boundary: where the kernel refuses them the program is not run (status "refused", with the
reason). The rlimits and the audit hook (Python level, what turns an attempt into a clear
"forbidden: ..." status) are added on top; ``ProgramResult.protections`` lists what was in force.

The sandboxed side (supervisor, init, harness) lives in ``course_lib.sandbox.child``, which
imports nothing but ``os`` and ``sys`` at its top level.
"""
from __future__ import annotations

import dataclasses
import json
import marshal
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from . import child
from .. import isolation


@dataclasses.dataclass(frozen=True)
class ProgramResult:
    """What happened when a program ran against its tests.

    A run that did not finish cleanly (any status but "ok") scores 0: a reward must not pay a
    program for tests it passed before it crashed, timed out or tried something forbidden.
    """
    passed: int                     # tests whose returned value equals the expected one (0 unless status "ok")
    total: int                      # number of tests
    status: str                     # "ok", "timeout", "memory", "output limit", "crashed", "forbidden: <what>",
                                    # "refused" (the kernel's isolation is not available here; nothing ran)
    reason: str                     # one sentence for a person: why this score
    stdout: str                     # the program's stdout and stderr, cut at output_limit bytes
    seconds: float                  # wall-clock of the whole run, interpreter start-ups included
    protections: tuple[str, ...]    # the protections that were in force for this run
    missing: tuple[str, ...] = ()   # protections that were asked for but unavailable, with the error
    details: tuple[str, ...] = ()   # one line per test: "pass", "fail: returned 5", "error: ...", ...

    @property
    def fraction(self) -> float:
        """Fraction of tests passed, in [0, 1]: the code-execution reward."""
        return self.passed / self.total if self.total else 0.0


_CHILD_CODE: list[bytes] = []   # the child module compiled once per process (marshal)


def _child_code() -> bytes:
    """``course_lib.isolation`` and the child module, compiled (marshal), as the child's boot loads them."""
    if not _CHILD_CODE:
        codes = []
        for module in (isolation, child):
            path = os.path.realpath(module.__file__)
            with open(path, encoding="utf-8") as f:
                codes.append(compile(f.read(), path, "exec", dont_inherit=True))
        _CHILD_CODE.append(marshal.dumps(tuple(codes)))
    return _CHILD_CODE[0]


def _check_positive(name: str, value: Any, kind: type) -> None:
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if not ok or not value > 0 or (kind is float and not math.isfinite(value)):
        raise ValueError(f"{name} must be a positive {'number' if kind is float else 'integer'}, got {value!r}")


def _normalise_tests(tests: Any) -> list[tuple[str, Any]]:
    if not isinstance(tests, list):
        raise ValueError(f"tests must be a list of {{'call': str, 'expected': value}} dicts, "
                         f"got {type(tests).__name__}")
    if not tests:
        raise ValueError("tests must be a non-empty list: a program with no tests earns nothing to measure")
    out = []
    for i, t in enumerate(tests):
        if not (isinstance(t, dict) and isinstance(t.get("call"), str) and "expected" in t):
            raise ValueError(f"tests[{i}] must be a dict with a 'call' string and an 'expected' value, got {t!r}")
        try:
            expected = json.loads(json.dumps(t["expected"]))
        except (TypeError, ValueError):
            raise ValueError(f"tests[{i}]['expected'] must be a JSON value (numbers, strings, bools, None, "
                             f"lists, dicts), got {t['expected']!r}") from None
        out.append((t["call"], expected))
    return out


def _same(a: Any, b: Any) -> bool:
    """Equality after a JSON round trip, strict about bools (True is not 1) and container types."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _grade(outcome: Any, expected: Any) -> tuple[bool, str]:
    if not isinstance(outcome, dict):
        return False, "fail: malformed outcome"
    if "error" in outcome:
        return False, f"error: {str(outcome['error'])[:200]}"
    if "unserializable" in outcome:
        return False, f"fail: returned a {str(outcome['unserializable'])[:60]}, not a JSON value"
    if "too_large" in outcome:
        return False, "fail: returned a value too large to compare"
    try:
        value = json.loads(outcome["value"])
    except (KeyError, TypeError, ValueError, RecursionError):
        return False, "fail: malformed value"
    if _same(value, expected):
        return True, "pass"
    return False, f"fail: returned {outcome['value'][:80]}, expected {json.dumps(expected)[:80]}"


_VIOLATION_REASONS = {
    "network": "tried to use the network", "process": "tried to start another process",
    "signal": "tried to send a signal to a process", "write": "tried to write outside its directory",
    "read": "tried to read a file outside its directory and the standard library",
    "native code": "tried to load native code (ctypes or similar)", "limits": "tried to raise its limits",
    "unknown": "did something the sandbox could not check"}


def _parse_records(raw: bytes, nonce: str) -> list[dict]:
    records = []
    for line in raw.split(b"\n"):
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(rec, dict) and rec.get("nonce") == nonce and isinstance(rec.get("kind"), str):
            records.append(rec)
    return records


def _read_until_done(out_r: int, res_r: int, deadline: float,
                     output_limit: int) -> tuple[bytes, bytes, str | None]:
    """Read stdout and the result pipe incrementally until both close; stop early on a limit."""
    out, res, stop = bytearray(), bytearray(), None
    sel = selectors.DefaultSelector()
    sel.register(out_r, selectors.EVENT_READ, "out")
    sel.register(res_r, selectors.EVENT_READ, "res")
    try:
        while sel.get_map() and stop is None:
            left = deadline - time.monotonic()
            if left <= 0:
                stop = "timeout"
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                elif key.data == "out":
                    out += chunk[: output_limit + 1 - len(out)]
                    if len(out) > output_limit:
                        stop = "output limit"
                else:
                    res += chunk
                    if len(res) > child.RESULTS_LIMIT:
                        stop = "results too large"
    finally:
        sel.close()
    return bytes(out[:output_limit]), bytes(res), stop


def _stop(proc: subprocess.Popen, patience: float = 3.0) -> None:
    """End the sandbox and wait until every process of it has exited and been reaped.

    The supervisor kills its sandbox on SIGTERM and reaps it (it is a subreaper); if it does
    not exit within ``patience`` s, SIGKILL its process group, which it leads (init and the harness
    die with it: they asked the kernel for SIGKILL when their parent dies).
    """
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=patience)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


def _remove_tree(path: str) -> None:
    def retry(func, p, _exc):  # a program may have made its own files read-only
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=retry)


def run_program(source: str, tests: list, *, time_limit: float = 2.0, memory_limit: int = 256 * 2**20,
                output_limit: int = 64 * 1024, file_size_limit: int = 2**20, open_files_limit: int = 64,
                namespaces: bool = True, audit_hook: bool = True, python: str | None = None) -> ProgramResult:
    """Run ``source`` in a sandboxed process and check it against ``tests``.

    Args:
        source: the program's Python source. It is executed as module ``solution`` (so an
            ``if __name__ == "__main__":`` block does not run), then every test's call is
            evaluated in its namespace. Only the standard library is importable.
        tests: a list of ``{"call": "solve(3)", "expected": 6}``. ``expected`` must be a JSON
            value; returned values are compared after a JSON round trip (a tuple equals a list),
            strictly about bools (``True`` is not ``1``). Expected values stay in this process.
        time_limit: seconds of wall-clock for the whole run (interpreter start-up included) and,
            rounded up, of CPU time (RLIMIT_CPU).
        memory_limit: bytes of address space (RLIMIT_AS); at least 64 MiB for the interpreter.
        output_limit: bytes of stdout + stderr kept; more output ends the run ("output limit").
        file_size_limit: largest file the program may write in its directory (RLIMIT_FSIZE).
        open_files_limit: most open file descriptors (RLIMIT_NOFILE).
        namespaces: try the kernel's network, pid and mount namespaces (False only to show
            what the other layers alone do).
        audit_hook: install the Python audit hook (False only to show what the kernel alone does).
        python: the interpreter to run (default: this one).

    Returns:
        A ``ProgramResult``; ``result.fraction`` is the reward.
    """
    if os.name != "posix":
        raise RuntimeError("the sandbox needs a POSIX system (Linux for its kernel layers); "
                           f"this is {sys.platform}")
    if not isinstance(source, str):
        raise ValueError(f"source must be a string of Python code, got {type(source).__name__}")
    _check_positive("time_limit", time_limit, float)
    _check_positive("memory_limit", memory_limit, int)
    _check_positive("output_limit", output_limit, int)
    _check_positive("file_size_limit", file_size_limit, int)
    _check_positive("open_files_limit", open_files_limit, int)
    if memory_limit < 64 * 2**20:
        raise ValueError(f"memory_limit must be at least 64 MiB (the interpreter needs it), got {memory_limit}")
    if open_files_limit < 8:
        raise ValueError(f"open_files_limit must be at least 8, got {open_files_limit}")
    checked = _normalise_tests(tests)
    if python is not None and not isinstance(python, str):
        raise ValueError(f"python must be the path of an interpreter (a string) or None, got {python!r}")
    python = python or sys.executable

    nonce = secrets.token_hex(16)
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="course-sandbox-"))
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    if res_w < 3:  # a caller without stdin/stdout: keep the result pipe clear of the standard streams
        import fcntl  # POSIX only, like the rest of run_program
        res_w, low = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 3), res_w
        os.close(low)
    start = time.monotonic()
    proc = None
    try:
        with open(os.path.join(workdir, child.PROGRAM_FILE), "w", encoding="utf-8") as f:
            f.write(source)
        compiled = os.path.realpath(python) == os.path.realpath(sys.executable)
        if compiled:
            with open(os.path.join(workdir, child.CODE_FILE), "wb") as f:
                f.write(_child_code())
        else:
            shutil.copyfile(child.__file__, os.path.join(workdir, child.SOURCE_FILE))
            shutil.copyfile(isolation.__file__, os.path.join(workdir, child.ISOLATION_SOURCE))
        cfg = {"nonce": nonce, "result_fd": res_w, "calls": [c for c, _ in checked], "compiled": compiled,
               "cpu_seconds": max(1, math.ceil(time_limit)), "memory_limit": int(memory_limit),
               "file_size_limit": int(file_size_limit), "open_files_limit": int(open_files_limit),
               "namespaces": bool(namespaces), "audit_hook": bool(audit_hook)}
        with open(os.path.join(workdir, child.CONFIG_FILE), "w", encoding="utf-8") as f:
            f.write(repr(cfg))
        proc = subprocess.Popen(child.command(python, "--supervise", workdir, compiled),
                                stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(res_w,),
                                cwd=workdir, env={}, start_new_session=True, close_fds=True)
        os.close(out_w)
        os.close(res_w)
        out_w = res_w = -1
        out, raw, stop = _read_until_done(out_r, res_r, start + time_limit, output_limit)
    finally:
        if proc is not None:
            _stop(proc)  # whatever still runs: the program's leftovers included
        for fd in (out_r, out_w, res_r, res_w):
            if fd >= 0:
                os.close(fd)
        _remove_tree(workdir)
    seconds = time.monotonic() - start
    return _judge(checked, _parse_records(raw, nonce), stop, out.decode("utf-8", "replace"), seconds,
                  time_limit, output_limit)


def _judge(checked: list, records: list[dict], stop: str | None, stdout: str, seconds: float,
           time_limit: float, output_limit: int) -> ProgramResult:
    """Turn the records of one run into a ProgramResult (see the module docstring for trust)."""
    total = len(checked)
    # records written before the program ran (trusted by their order): setup, then ready
    setup = records[0] if records and records[0]["kind"] == "setup" else None
    ready = records[1] if len(records) > 1 and records[1]["kind"] == "ready" else None
    protections = ["empty environment", "own temporary working directory (deleted afterwards)",
                   "new session; wall-clock limit kills the process group",
                   f"output cut at {output_limit} bytes"]
    missing: list[str] = []
    if setup:
        protections += [str(p) for p in setup.get("protections", [])]
        missing += [str(m) for m in setup.get("missing", [])]
    if ready:
        protections.append("rlimits: " + ", ".join(str(x) for x in ready.get("limits", [])))
        missing += [str(m) for m in ready.get("missing", [])]
        if ready.get("audit_hook"):
            protections.append("audit hook: refuses sockets, new processes, signals, native code, "
                               "files outside the directory and the standard library")
    later = records[2:] if ready else []
    violation = next((r for r in later if r["kind"] == "violation"), None)
    results = [r for r in later if r["kind"] == "results"]
    exits = [r for r in records if r["kind"] == "exit"]

    def result(status: str, reason: str, passed: int = 0, details: tuple = ()) -> ProgramResult:
        return ProgramResult(passed, total, status, reason, stdout, seconds, tuple(protections),
                             tuple(missing), details)

    if stop == "timeout":
        return result("timeout", f"still running after the wall-clock limit of {time_limit:g} s; killed")
    if stop == "output limit":
        return result("output limit", f"printed more than {output_limit} bytes; killed")
    if stop == "results too large":
        return result("crashed", "wrote more than the result channel accepts; killed")
    if violation:
        what = str(violation.get("what"))
        return result(f"forbidden: {what}", f"{_VIOLATION_REASONS.get(what, what)}: "
                      f"{str(violation.get('detail'))[:200]}; stopped")
    refusal = next((r for r in records if r["kind"] == "refused"), None)
    if refusal is not None:
        return result("refused", f"not run: {str(refusal.get('detail'))[:400]}")
    if not setup or not ready:
        setup_error = next((r for r in records if r["kind"] == "setup_error"), None)
        detail = setup_error.get("detail") if setup_error else stdout.strip()[-300:]
        return result("crashed", f"the sandbox did not start: {detail}")
    last_exit = exits[-1] if exits else {}
    if last_exit.get("signal") in (signal.SIGXCPU, signal.SIGKILL):
        return result("timeout", f"used more than its CPU time limit; killed by signal {last_exit['signal']}")
    if len(results) != 1:
        how = (f"killed by signal {last_exit['signal']}" if last_exit.get("signal")
               else f"exit status {last_exit.get('code')}")
        what = "before the tests were run" if not results else "after writing several result records"
        return result("crashed", f"the process ended ({how}) {what}")
    rec = results[0]
    status, detail = str(rec.get("status")), str(rec.get("detail", ""))[:300]
    if status == "memory":
        limit = next((str(x) for x in ready.get("limits", []) if "address space" in str(x)), "no address-space limit")
        return result("memory", f"{detail} (limit {limit})")
    if status != "ok":
        return result("crashed", detail or "the program failed")
    outcomes = rec.get("outcomes")
    if not isinstance(outcomes, list) or len(outcomes) != total:
        return result("crashed", "the result record does not match the tests")
    if last_exit.get("code") != 0:
        return result("crashed", f"the process ended with {last_exit or 'no exit record'} after reporting")
    graded = [_grade(o, exp) for o, (_, exp) in zip(outcomes, checked)]
    passed = sum(ok for ok, _ in graded)
    return result("ok", f"{passed}/{total} tests passed", passed, tuple(d for _, d in graded))


_PROTECTIONS: dict[tuple, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def available_protections(namespaces: bool = True, audit_hook: bool = True) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(protections in force, protections missing with the reason) on this machine, measured once.

    Runs a trivial program and reads what the sandbox reported; cached per process.
    """
    key = (namespaces, audit_hook)
    if key not in _PROTECTIONS:
        r = run_program("def f():\n    return 1\n", [{"call": "f()", "expected": 1}],
                        namespaces=namespaces, audit_hook=audit_hook)
        if r.status != "ok":
            raise RuntimeError(f"the sandbox cannot run a trivial program here: {r.status}: {r.reason}")
        _PROTECTIONS[key] = (r.protections, r.missing)
    return _PROTECTIONS[key]


# ------------------------------------------------------------------------------------------
# Rewards in TRL's convention
# ------------------------------------------------------------------------------------------

def extract_code(text: str) -> str:
    """The program in a completion: the first fenced ```python block if there is one, else all of it."""
    fence = "```"
    start = text.find(fence)
    if start < 0:
        return text
    body_start = text.find("\n", start)
    end = text.find(fence, body_start + 1) if body_start >= 0 else -1
    if body_start < 0 or end < 0:
        return text
    return text[body_start + 1:end]


def run_programs(sources: Sequence[str], tests: Sequence[list], *, workers: int | None = None,
                 **limits: Any) -> list[ProgramResult]:
    """``run_program`` over many programs, ``workers`` at a time.

    The default, 4 per CPU core, keeps the cores busy: much of a sandboxed run is spent waiting
    on process creation and the kernel, not computing (``python -m course_lib bench sandbox``).
    """
    if len(sources) != len(tests):
        raise ValueError(f"tests has {len(tests)} test lists but there are {len(sources)} programs; "
                         "pass one test list per program")
    if workers is None:
        workers = 4 * (os.cpu_count() or 1)
    _check_positive("workers", workers, int)
    if workers == 1 or len(sources) <= 1:
        return [run_program(s, t, **limits) for s, t in zip(sources, tests)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda st: run_program(st[0], st[1], **limits), zip(sources, tests)))


__all__ = ["ProgramResult", "run_program", "run_programs", "available_protections", "extract_code"]
