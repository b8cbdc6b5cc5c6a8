"""Warm grading workers: one per ``--jobs``, each forks a fresh grading process per submission.

Starting Python, importing torch and the course, and starting a Jupyter kernel took most of a
submission's grading time when each submission had a process of its own (see
``python -m course_lib bench grading``). A *warm worker* does that once: it starts, imports the
modules the course's notebooks import (``warm``), and then, for each submission it is sent, forks a
child that grades it (``worker.grade_notebook``) and exits. Each child is a fresh copy of a process
that has never run learner code nor read a submission, so every submission is still graded by a
pristine process of its own; the child forks the executor that runs the learner's cells in its own
namespaces (``execute``) and the sub-graders that grade each captured function (``regrade``).

The warm worker never imports ``course_lib.exercises``: its import forks the checker's judge, whose
socket every child would share. Each grading child imports it (and so has a judge of its own) after
it has forked the executor, as the per-submission worker did.

``Pool`` is the grader's side: it starts the workers, sends each one submission at a time over its
standard input, waits for the reply line a bounded time, and on a worker that died or did not answer
starts a fresh one and grades that submission once more.
"""
from __future__ import annotations

import ast
import importlib.abc
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM = ("numpy", "torch", "nbformat", "nbformat.validator", "IPython.core.interactiveshell",
        "IPython.core.displayhook", "IPython.core.displaypub", "traitlets.config", "matplotlib", "matplotlib.pyplot",
        "course_lib", "course_lib.isolation", "course_lib.grading.capture", "course_lib.grading.execute",
        "course_lib.grading.regrade", "course_lib.grading.worker")
START_LIMIT = 600.0  # seconds a worker may take to start and import the course


class _NoExercises(importlib.abc.MetaPathFinder):
    """While warming up: ``course_lib.exercises`` cannot be imported (its import forks the judge)."""

    def find_spec(self, name, path=None, target=None):
        if name == "course_lib.exercises" or name.startswith("course_lib.exercises."):
            raise ImportError(f"{name} is not imported by the warm worker")
        return None


def notebook_imports(root: str, stems: list[str] | None = None) -> list[str]:
    """The modules the course's notebooks import (their import statements), in order of first use;
    ``stems``: only these notebooks'."""
    names: dict[str, None] = {}
    for path in sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if stems is not None and path.stem not in stems:
            continue
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(dict.fromkeys(a.name for a in node.names))
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names[node.module] = None
    return list(names)


def warm(root: str, stems: list[str] | None = None) -> dict:
    """Import what grading and the course's notebooks (``stems``: these) need, never
    ``course_lib.exercises``; what was done."""
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")
    started, skipped = time.perf_counter(), []
    blocker = _NoExercises()
    sys.meta_path.insert(0, blocker)
    try:
        for name in [*WARM, *notebook_imports(root, stems)]:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - a module that cannot be preloaded is imported by the cell
                skipped.append(f"{name} ({type(exc).__name__})")
    finally:
        sys.meta_path.remove(blocker)
    if any(m == "course_lib.exercises" or m.startswith("course_lib.exercises.") for m in sys.modules):
        raise RuntimeError("the warm worker imported course_lib.exercises; its judge would be shared")
    return {"seconds": round(time.perf_counter() - started, 2), "skipped": skipped,
            "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None}


def main(argv: list[str]) -> int:
    """``pool FAST MEMORY LIBRARY_POLICY ISOLATED NOTEBOOKS THREADS``: warm up (for the comma-separated
    notebook stems), give torch THREADS threads, then grade one request per input line."""
    fast, memory, policy, isolated = argv[0] == "1", int(argv[1]), argv[2], argv[3] == "1"
    stems = [s for s in (argv[4] if len(argv) > 4 else "").split(",") if s]
    from course_lib.isolation import die_with_parent

    die_with_parent()  # grade exits or is killed: the worker and (through theirs) its children go too
    if fast:
        os.environ["COURSE_FAST"] = "1"
    else:
        os.environ.pop("COURSE_FAST", None)
    sys.dont_write_bytecode = True
    from .worker import repo_root

    info = warm(repo_root(), stems)
    threads = int(argv[5]) if len(argv) > 5 else 0
    torch = sys.modules.get("torch")
    if threads > 0 and torch is not None:  # the cores shared out between the jobs, not each job all of them
        torch.set_num_threads(threads)
    out = sys.stdout.buffer
    out.write((json.dumps({"ready": info}) + "\n").encode())
    out.flush()
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        pid = os.fork()
        if pid == 0:
            _grade_child(req, fast=fast, memory=memory, policy=policy, isolated=isolated)
        _, status = os.waitpid(pid, 0)  # retried by Python itself if a signal interrupts it (PEP 475)
        out.write((json.dumps({"id": req.get("id"), "status": status}) + "\n").encode())
        out.flush()
    return 0


def _grade_child(req: dict, *, fast: bool, memory: int, policy: str, isolated: bool) -> None:
    """In the forked grading process: grade one submission, write ``result.json`` into its job folder."""
    code = 1
    try:
        from course_lib.isolation import die_with_parent

        die_with_parent()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):  # the worker's request and reply pipes are not this process's to use
            os.dup2(devnull, fd)
        from .worker import grade_notebook

        job = Path(req["job"])
        result = grade_notebook(Path(req["submission"]), req["notebook"], job, fast=fast, timeout=float(req["timeout"]),
                                memory=memory, library_policy=policy, isolated=isolated)
        tmp = job / "result.json.tmp"
        tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
        os.replace(tmp, job / "result.json")
        code = 0
    except BaseException:  # noqa: BLE001 - the worker reports the exit code; grade says what is missing
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


# --- the grader's side ---------------------------------------------------------------------------------


class Worker:
    """One warm worker process and its pipes."""

    def __init__(self, cmd: list[str], env: dict, log: Path):
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True, cwd=str(log.parent))
        self.buf, self.started, self.info = b"", time.monotonic(), None
        self.counter = 0

    def read_line(self, deadline: float) -> dict | None:
        """The next JSON line the worker writes, or None when it exits or ``deadline`` passes."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            value = json.loads(line)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def ready(self, limit: float = START_LIMIT) -> bool:
        reply = self.read_line(time.monotonic() + limit)
        if reply is None or "ready" not in reply:
            return False
        self.info = reply["ready"]
        self.info["warmup_seconds"] = round(time.monotonic() - self.started, 2)
        return True

    def ask(self, request: dict, limit: float) -> tuple[bool, str]:
        """Send one submission; (answered, why not)."""
        self.counter += 1
        request = dict(request, id=self.counter)
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            return False, f"the grading worker could not be reached ({exc.strerror or exc})"
        reply = self.read_line(time.monotonic() + limit)
        if reply is None:
            alive = self.proc.poll() is None
            return False, ("the grading worker did not answer within its time limit" if alive
                           else f"the grading worker ended (exit {self.proc.returncode})")
        if reply.get("id") != self.counter:
            return False, "the grading worker answered out of turn"
        status = reply.get("status")
        if not isinstance(status, int) or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            how = (f"signal {os.WTERMSIG(status)}" if isinstance(status, int) and os.WIFSIGNALED(status)
                   else f"exit {os.WEXITSTATUS(status) if isinstance(status, int) else status}")
            return True, f"the grading process failed ({how})"
        return True, ""

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


class Pool:
    """``jobs`` warm workers; ``grade(submission, notebook, limit)`` from up to ``jobs`` threads at once."""

    def __init__(self, jobs: int, scratch: Path, *, fast: bool, memory: int, policy: str, isolated: bool,
                 notebooks: list[str] = ()):
        from .worker import bootstrap, repo_root

        self.scratch = scratch
        self.cmd = bootstrap(repo_root(), "course_lib.grading.pool") + [
            "1" if fast else "0", str(memory), policy, "1" if isolated else "0", ",".join(sorted(set(notebooks))),
            str(max(1, (os.cpu_count() or 1) // jobs))]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JPY_", "JUPYTER_"))}
        self.free: queue.Queue = queue.Queue()
        self.started, self.restarts, self.warmups, self.count = 0, 0, [], 0
        workers = [self._spawn() for _ in range(jobs)]  # all start at once
        for w in workers:
            self._put_ready(w)

    def _spawn(self) -> Worker:
        self.count += 1
        return Worker(self.cmd, self.env, self.scratch / f"worker-{self.count}.log")

    def _put_ready(self, w: Worker) -> None:
        if w.ready():
            self.warmups.append(w.info["warmup_seconds"])
        else:
            w.stop()
            w = None
        self.free.put(w)  # None: a worker that could not start; the next request tries a fresh one

    def grade(self, submission: Path, notebook: str, limit: float) -> tuple[dict | None, str]:
        """Grade one submission: (its result.json as data, or None, and why not). Bounded: the worker
        must answer within twice the notebook's limit plus 300 s; a worker that did not (or died) is
        replaced and the submission graded once more."""
        why = first = ""
        for attempt in (1, 2):
            w = self.free.get()
            if w is None:
                w = self._spawn()
                if not w.ready():
                    w.stop()
                    self.free.put(None)
                    why = first = "a grading worker could not start (see the worker log)"
                    continue
            job = Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch))
            answered, why = w.ask({"submission": str(submission), "notebook": notebook, "job": str(job),
                                   "timeout": limit}, 2 * limit + 300)
            if answered:
                self.free.put(w)
            else:
                w.stop()
                self.restarts += 1
                self.free.put(None)
            try:
                result = json.loads((job / "result.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                result = None
            shutil.rmtree(job, ignore_errors=True)
            if isinstance(result, dict):
                if attempt == 2:
                    result["retried"] = f"graded a second time: the first grading process failed ({first})"
                return result, ""
            first = why or "no result"
        return None, why

    def close(self) -> dict:
        """Stop every worker; what they cost to start."""
        while not self.free.empty():
            w = self.free.get()
            if w is not None:
                w.stop()
        warm = sorted(self.warmups)
        return {"count": self.count, "restarts": self.restarts,
                "warmup_seconds": warm[len(warm) // 2] if warm else None}
