"""Execute one notebook on a fresh kernel inside the kernel's isolation (the executor).

Run by the grader's worker as ``python -I -c <bootstrap> execute WORKDIR NOTEBOOK TIMEOUT MEMORY ISOLATED``:
it becomes pid 1 of its own namespaces (``regrade.confine``: only the course and the interpreter
visible, read-only but WORKDIR; its own loopback; an unprivileged user with no capability), so the
kernel it starts and everything that kernel starts die when it exits. It limits the address space,
runs every cell with nbclient (errors do not stop the run), and writes ``executed.ipynb`` and
``status.json`` into WORKDIR. Everything it writes is read back by the worker as untrusted data.
"""
from __future__ import annotations

import json
import os
import resource
import time

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
    """nbclient's ``NotebookClient`` for one notebook, as the grader and ``course_lib run`` use it.

    The kernel is reached over TCP on the loopback. (Its IPC transport would rule out two kernels
    started at once picking the same port, but with nbclient 0.10 a cell's time limit then never
    fires; measured. The grader's executors each have a network namespace of their own instead.)

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


def main(argv: list[str]) -> int:
    workdir, notebook, timeout, memory = argv[0], argv[1], float(argv[2]), int(argv[3])
    isolated = argv[4:5] != ["0"]
    status: dict = {"finished": False, "reason": "", "protections": [], "missing": []}

    def save() -> None:
        with open(os.path.join(workdir, "status.json"), "w", encoding="utf-8") as f:
            json.dump(status, f)

    from course_lib.isolation import die_with_parent

    from .regrade import confine, unprotected

    die_with_parent()  # a worker that is killed takes its executor, and so the notebook, with it

    if isolated:
        status["protections"], status["missing"] = confine(workdir)
        why = unprotected(status["protections"], status["missing"])
        if why is not None:
            status["reason"] = why
            save()
            return 0
    else:
        status["missing"] = ["isolation (--unisolated: learner code ran with the grader's own rights)"]
    os.chdir(workdir)
    if memory > 0:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            status["protections"].append(f"address space limit {memory / 2**30:g} GiB")
        except (ValueError, OSError) as exc:
            status["missing"].append(f"address space limit ({exc})")
    save()
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    client = notebook_client(nb, status=status, output_limit=OUTPUT_LIMIT, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": workdir}}, record_timing=False)
    started = time.perf_counter()
    try:
        client.execute()
        status["finished"] = True
    except DeadKernelError as exc:
        status["reason"] = f"the kernel died ({str(exc).strip()[:200] or 'DeadKernelError'})"
    except CellTimeoutError:
        status["reason"] = f"a cell ran longer than {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure to run is a reason, not a crash of the grader
        status["reason"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    status["seconds"] = round(time.perf_counter() - started, 2)
    try:
        nbformat.write(nb, os.path.join(workdir, "executed.ipynb"))
    except Exception as exc:  # noqa: BLE001
        status["reason"] += f"; the executed copy could not be written ({exc})"
    save()
    return 0
