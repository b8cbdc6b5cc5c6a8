"""Execute a submission's cells in a forked, isolated process (the executor); ``course_lib run``'s client.

The grader's executor is not a Jupyter kernel. The grading process for one submission (forked from a
warm worker that has imported the course, see ``pool``) forks it (``start``); it

1. closes every file descriptor it inherited but one pipe, and becomes pid 1 of its own pid, mount
   and network namespaces (``regrade.confine``: only the course and the interpreter visible,
   read-only but its working directory; its own loopback; an unprivileged user with no capability,
   ``no_new_privs``), so everything it starts dies with it,
2. limits its address space and runs the cells it was given, in order, in an IPython shell of its own
   (``make_shell``: the kernel's display machinery, with outputs kept as data, at most
   ``OUTPUT_LIMIT`` bytes; errors do not stop the run),
3. writes one line per cell to ``outputs.jsonl`` and ``status.json`` in its working directory, and a
   line to the pipe when a cell starts, so that ``finish`` can stop a cell past its time limit.

Nothing passes through a socket or a message queue: a pipe and files, which cannot lose a message.
Everything the executor writes is read back as untrusted data (``read_outputs``).

``notebook_client`` is nbclient's client as ``course_lib run`` uses it (a real kernel per notebook).
"""
from __future__ import annotations

import io
import json
import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass, field

OUTPUT_LIMIT = 50 * 2**20  # bytes of cell output a graded notebook may keep; the rest is dropped


def _cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) a process has used, from /proc; None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def notebook_client(nb, *, status: dict | None = None, output_limit: int | None = None, **kwargs):
    """nbclient's ``NotebookClient`` for one notebook, as ``course_lib run`` uses it (the grader starts no
    kernel: see the module's docstring).

    The kernel is reached over TCP on the loopback. (Its IPC transport would rule out two kernels
    started at once picking the same port, but with nbclient 0.10 a cell's time limit then never
    fires; measured. ``course_lib run`` starts one kernel at a time, and retries a notebook whose cell
    timed out on an idle kernel.)

    - When a cell runs out of time, ``status["idle_timeout"]`` says whether the kernel used almost
      no CPU meanwhile (under 5 % of the wait): the kernel was idle, waiting like the client, so a
      message was lost and the notebook deserves one more run; a busy kernel is the notebook's own loop.
    - ``output_limit``: at most that many bytes of outputs are kept (text, images, ...), so a notebook
      that prints gigabytes cannot grow this process to its memory limit; past it, one note in the
      outputs and ``status["output_cut"]`` say so.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError
    from nbformat.v4 import new_output

    status = {} if status is None else status

    class Client(NotebookClient):
        kept = 0

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
            before, started = _cpu_seconds(pid), time.perf_counter()
            try:
                return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            except CellTimeoutError:
                after = _cpu_seconds(pid)
                if before is not None and after is not None:
                    status["idle_timeout"] = after - before < 0.05 * (time.perf_counter() - started)
                raise

        def output(self, outs, msg, display_id, cell_index):
            if output_limit is not None and msg.get("msg_type") in ("stream", "display_data", "execute_result",
                                                                    "error"):
                size = len(json.dumps(msg.get("content", {}), default=str))
                if status.get("output_cut") or self.kept + size > output_limit:  # past the cap: nothing more
                    if not status.get("output_cut"):
                        status["output_cut"] = True
                        outs.append(new_output("stream", name="stderr", text=f"[the grader dropped the output "
                                                                             f"past {output_limit / 2**20:g} MB]\n"))
                    return None
                self.kept += size
            return super().output(outs, msg, display_id, cell_index)

    return Client(nb, **{"kernel_name": "python3", **kwargs})


# --- the grader's executor ---------------------------------------------------------------------------


class Outputs:
    """The outputs of the cell being run, as nbformat output dicts, within one byte budget for the notebook."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.limit, self.kept, self.cut, self.cell = limit, 0, False, []

    def _room(self, size: int) -> bool:
        if not self.cut and self.kept + size <= self.limit:
            self.kept += size
            return True
        if not self.cut:
            self.cut = True
            self.cell.append({"output_type": "stream", "name": "stderr",
                              "text": f"[the grader dropped the output past {self.limit / 2**20:g} MB]\n"})
        return False

    def add(self, out: dict) -> None:
        try:
            size = len(json.dumps(out, default=str))
        except (TypeError, ValueError, RecursionError):
            return
        if self._room(size):
            self.cell.append(out)

    def stream(self, name: str, text: str) -> None:
        if not text or not self._room(len(text)):
            return
        last = self.cell[-1] if self.cell else None
        if last is not None and last.get("output_type") == "stream" and last.get("name") == name:
            last["text"] += text
        else:
            self.cell.append({"output_type": "stream", "name": name, "text": text})

    def clear(self) -> None:
        self.cell = []


class _Stream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of the executor: text goes into the cell's outputs."""

    def __init__(self, outputs: Outputs, name: str):
        super().__init__()
        self._outputs, self._name = outputs, name

    @property
    def encoding(self) -> str:
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._outputs.stream(self._name, text)
        return len(text)


def make_shell(outputs: Outputs):
    """An IPython shell whose displays, results, streams and tracebacks become ``outputs`` (as a kernel's
    would become messages); no history file, no colours."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type
    from traitlets.config import Config

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            outputs.add({"output_type": "display_data", "data": dict(data), "metadata": dict(metadata or {})})

        def clear_output(self, wait=False):
            outputs.clear()

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            outputs.add({"output_type": "execute_result", "data": dict(format_dict),
                         "metadata": dict(md_dict or {}), "execution_count": self.shell.execution_count})

        def finish_displayhook(self):
            self._is_active = False

    class Shell(InteractiveShell):
        displayhook_class = Type(Hook)
        display_pub_class = Type(Publisher)

        def _showtraceback(self, etype, evalue, stb):
            outputs.add({"output_type": "error", "ename": getattr(etype, "__name__", str(etype)),
                         "evalue": str(evalue), "traceback": [str(line) for line in stb]})

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.autocall = 0
    return Shell.instance(config=config)


@dataclass
class Execution:
    """A started executor: its pid, the read end of its progress pipe, what it was told and when."""

    pid: int
    progress: int
    workdir: str
    cells: list[int]
    started: float = field(default_factory=time.monotonic)


def start(cells: list[tuple[int, str]], workdir: str, *, memory: int, isolated: bool = True,
          env: dict[str, str] | None = None) -> Execution:
    """Fork the executor for ``cells`` ((index in the notebook, source) in order) in ``workdir``.

    Call it before this process holds anything learner code must not reach (the checker's judge
    socket): the executor closes every inherited descriptor but its pipe, but it is a copy of this
    process's memory.
    """
    for sub in ("tmp", ".ipython"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            _executor(cells, workdir, memory=memory, isolated=isolated, progress=w, extra_env=env or {})
            code = 0
        except BaseException:  # noqa: BLE001 - the executor never returns into the grader's code
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return Execution(pid=pid, progress=r, workdir=workdir, cells=[i for i, _ in cells])


def _executor(cells, workdir: str, *, memory: int, isolated: bool, progress: int, extra_env: dict) -> None:
    """In the forked executor: isolate, limit, run the cells (see the module's docstring)."""
    from course_lib.isolation import die_with_parent

    from .regrade import confine, unprotected

    die_with_parent()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        max_fd = min(os.sysconf("SC_OPEN_MAX"), 65536)
    except (ValueError, OSError):
        max_fd = 1024
    os.closerange(3, progress)  # every inherited descriptor but the progress pipe
    os.closerange(progress + 1, max_fd)
    os.chdir(workdir)
    env = {"HOME": workdir, "TMPDIR": os.path.join(workdir, "tmp"), "IPYTHONDIR": os.path.join(workdir, ".ipython"),
           "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", **extra_env}
    os.environ.update(env)
    sys.dont_write_bytecode = True
    status: dict = {"finished": False, "reason": "", "protections": [], "missing": []}

    def save() -> None:
        with open(os.path.join(workdir, "status.json"), "w", encoding="utf-8") as f:
            json.dump(status, f)

    def say(line: str) -> None:
        try:
            os.write(progress, (line + "\n").encode())
        except OSError:
            pass

    if isolated:
        status["protections"], status["missing"] = confine(workdir)
        why = unprotected(status["protections"], status["missing"])
        if why is not None:
            status["reason"] = why
            save()
            say("refused")
            return
    else:
        os.setsid()
        status["missing"] = ["isolation (--unisolated: learner code ran with the grader's own rights)"]
    if memory > 0:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            status["protections"].append(f"address space limit {memory / 2**30:g} GiB")
        except (ValueError, OSError) as exc:
            status["missing"].append(f"address space limit ({exc})")
    import tempfile

    tempfile.tempdir = env["TMPDIR"]
    save()
    say("isolated")
    outputs = Outputs()
    sys.stdout, sys.stderr = _Stream(outputs, "stdout"), _Stream(outputs, "stderr")
    shell = make_shell(outputs)
    say("shell")
    import warnings

    warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")  # plt.show() under Agg
    path = os.path.join(workdir, "outputs.jsonl")
    for index, source in cells:
        say(str(index))
        outputs.clear()
        shell.run_cell(source, store_history=True)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            try:
                pyplot.close("all")  # the figures were drawn; the grader keeps no pictures
            except Exception:  # noqa: BLE001
                pass
        line = json.dumps({"cell": index, "execution_count": shell.execution_count - 1, "outputs": outputs.cell},
                          default=str)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    status["finished"] = True
    status["output_cut"] = outputs.cut
    save()
    say("done")


def finish(ex: Execution, timeout: float) -> dict:
    """Wait for the executor: each cell at most ``timeout`` seconds, the whole notebook at most
    ``timeout`` + 30 (as ``grade --timeout`` says); stop it past either. Its status (untrusted data but
    for ``finished``, ``reason`` and ``seconds``, which this process decides) and the stage times."""
    marks: dict[str, float] = {}
    current, cell_started, buf, eof = None, time.monotonic(), b"", False
    wait_status, reason = None, ""
    while True:
        now = time.monotonic()
        if wait_status is None:
            got, st = os.waitpid(ex.pid, os.WNOHANG)
            if got:
                wait_status = st
        limit = min(ex.started + timeout + 30, cell_started + timeout)
        pause = max(0.0, min(limit - now, 0.2))
        if eof:  # the pipe is closed: only the process is left to wait for
            ready = []
            if wait_status is None:
                time.sleep(min(pause, 0.05))
        else:
            ready, _, _ = select.select([ex.progress], [], [], pause)
        chunk = os.read(ex.progress, 65536) if ready else b""
        eof = eof or (bool(ready) and not chunk)
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines[:10_000]:
            text = raw.decode("ascii", "replace").strip()
            if text.lstrip("-").isdigit() and int(text) in ex.cells:
                current, cell_started = int(text), time.monotonic()
            elif text in ("isolated", "shell", "done", "refused") and text not in marks:
                marks[text] = time.monotonic() - ex.started
                cell_started = time.monotonic()
        buf = buf[-1000:]
        if wait_status is not None and (not chunk or time.monotonic() >= limit):
            break
        if time.monotonic() >= limit and wait_status is None:
            if time.monotonic() >= ex.started + timeout + 30:
                reason = f"the notebook did not finish within {timeout + 30:g} s and was stopped"
            else:
                where = f"cell {current}" if current is not None else "starting"
                reason = f"a cell ran longer than {timeout:g} s ({where}) and the notebook was stopped"
            _stop(ex.pid)
            _, wait_status = os.waitpid(ex.pid, 0)
            break
    os.close(ex.progress)
    done = "done" in marks
    try:
        with open(os.path.join(ex.workdir, "status.json"), encoding="utf-8") as f:
            status = json.loads(f.read(1_000_000))
        status = status if isinstance(status, dict) else {}
    except (OSError, ValueError, RecursionError):
        status = {}
    status = {k: status[k] for k in ("protections", "missing", "output_cut") if k in status}
    for key in ("protections", "missing"):
        status[key] = [str(x)[:300] for x in status.get(key, [])][:20] if isinstance(status.get(key), list) else []
    total = time.monotonic() - ex.started
    if reason:
        status.update(finished=False, reason=reason)
    elif "refused" in marks:
        from .regrade import unprotected

        status.update(finished=False, reason=unprotected(status["protections"], status["missing"])
                      or "the executor refused to run learner code")
    elif not done:
        how = (f"signal {os.WTERMSIG(wait_status)}" if os.WIFSIGNALED(wait_status)
               else f"exit code {os.WEXITSTATUS(wait_status)}")
        where = f" in cell {current}" if current is not None else ""
        status.update(finished=False, reason=f"the kernel died ({how}{where})")
    else:
        status.update(finished=True, reason="")
    status["seconds"] = round(total, 2)
    isolated_at = marks.get("isolated", 0.0)
    shell_at = marks.get("shell", isolated_at)
    status["stages"] = {"isolation": round(isolated_at, 3), "shell": round(shell_at - isolated_at, 3),
                        "cells": round(total - shell_at, 3)}
    return status


def _stop(pid: int) -> None:
    """Kill the executor (pid 1 of its namespace dies with it: ``PR_SET_PDEATHSIG``) and, unisolated,
    its process group."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def read_outputs(workdir: str, max_bytes: int = OUTPUT_LIMIT + 20 * 2**20) -> dict[int, dict]:
    """Cell index -> {"execution_count", "outputs"} from the executor's ``outputs.jsonl`` (untrusted:
    malformed lines and whatever is past ``max_bytes`` are ignored)."""
    out: dict[int, dict] = {}
    try:
        with open(os.path.join(workdir, "outputs.jsonl"), encoding="utf-8", errors="replace") as f:
            text = f.read(max_bytes)
    except OSError:
        return out
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("cell"), int) \
                or not isinstance(entry.get("outputs"), list):
            continue
        count = entry.get("execution_count")
        out[entry["cell"]] = {"execution_count": count if isinstance(count, int) and count > 0 else 1,
                              "outputs": [o for o in entry["outputs"] if isinstance(o, dict)]}
    return out
