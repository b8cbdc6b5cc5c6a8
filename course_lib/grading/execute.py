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


def capped_client(nb, status: dict, limit: int = OUTPUT_LIMIT, **kwargs):
    """An nbclient ``NotebookClient`` that keeps at most ``limit`` bytes of outputs (text, images, ...),
    so a notebook that prints gigabytes cannot grow the executor to its memory limit; past it, one
    note in the outputs and ``status["output_cut"]`` say so."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    class Capped(NotebookClient):
        kept = 0

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str)) \
                if msg.get("msg_type") in ("stream", "display_data", "execute_result", "error") else 0
            if status.get("output_cut") or self.kept + size > limit:  # past the cap: nothing more
                if not status.get("output_cut"):
                    status["output_cut"] = True
                    outs.append(new_output("stream", name="stderr", text=f"[the grader dropped the output past "
                                                                         f"{limit / 2**20:g} MB]\n"))
                return None
            self.kept += size
            return super().output(outs, msg, display_id, cell_index)

    return Capped(nb, **kwargs)


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
    client = capped_client(nb, status, timeout=timeout, allow_errors=True, kernel_name="python3",
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
