"""The sandboxed side of ``course_lib.sandbox``: supervisor, namespace init and test harness.

Run by ``run_program`` as ``python -I -S -B -c "<load this module's code>" --supervise|--harness DIR``
(see ``command``). Standard library only, and its top level imports only
``os`` and ``sys``: the modules the audit hook refuses (``ctypes``, ``_posixsubprocess``) must not be
loaded before the hook is in place, and every import costs start-up time (it writes JSON with
``_dumps`` instead of importing ``json``). Kept apart from ``parent.py`` so that the child loads
only this small module and ``course_lib.isolation`` (the kernel layers it shares with the grader),
compiled once by the parent and handed in as the global ``isolation``.

It is the supervisor, init and harness of the process tree drawn in ``parent.py``'s docstring.
"""
from __future__ import annotations

import os
import sys

# ----------------------------------------------------------------------------------------------
# Shared by both sides
# ----------------------------------------------------------------------------------------------

PROGRAM_FILE = "program.py"         # the candidate's source, inside the temporary directory
CONFIG_FILE = ".sandbox.json"       # the harness's settings; read and deleted before the program runs
VALUE_LIMIT = 64 * 1024             # largest JSON text of one returned value sent back to the parent
RESULTS_LIMIT = 4 * 2**20           # largest result stream the parent accepts (records, not stdout)
EXIT_VIOLATION = 101                # harness exit codes, after it has written its record
EXIT_SETUP = 102

# Modules whose import is refused: native calls (they bypass every Python-level check) and the
# fork/exec primitive behind ``subprocess`` that raises no audit event of its own.
BLOCKED_MODULES = frozenset({"ctypes", "_ctypes", "cffi", "_cffi_backend", "_posixsubprocess",
                             "_testcapi", "_testinternalcapi", "_xxsubinterpreters"})

# ----------------------------------------------------------------------------------------------
# Supervisor, init and harness
# ----------------------------------------------------------------------------------------------

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
# Protections without which a program is refused (the audit hook alone is no boundary).
REQUIRED = ("network namespace", "pid namespace", "mount namespace", "no capabilities, no_new_privs",
            "only the interpreter, its libraries and the working directory visible, all read-only but the "
            "working directory")

try:  # run by the sandbox: its boot line put the module's code here (the child cannot import course_lib)
    isolation  # noqa: B018
except NameError:  # imported as course_lib.sandbox.child
    from course_lib import isolation


_ESCAPES = {**{i: f"\\u{i:04x}" for i in [*range(0x20), *range(0xD800, 0xE000)]},
            ord('"'): '\\"', ord("\\"): "\\\\"}


def _dumps(obj, depth: int = 0) -> str:
    """JSON text of a value made only of exact built-in types.

    A subclass is refused (TypeError), so an object that claims to equal everything, or an int
    whose ``__repr__`` lies, cannot pass for the value it imitates.
    """
    kind = type(obj)
    if depth > 100:
        raise ValueError("nested too deeply")
    if obj is None:
        return "null"
    if kind is bool:
        return "true" if obj else "false"
    if kind is int:
        return str(obj)  # ValueError past 4300 digits
    if kind is float:
        return repr(obj) if obj - obj == 0 else ("NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity"))
    if kind is str:
        return '"' + obj.translate(_ESCAPES) + '"'
    if kind is list or kind is tuple:
        return "[" + ",".join(_dumps(x, depth + 1) for x in obj) + "]"
    if kind is dict and all(type(k) is str for k in obj):
        return "{" + ",".join(_dumps(k) + ":" + _dumps(v, depth + 1) for k, v in obj.items()) + "}"
    raise TypeError(kind.__name__)


def _load_config(workdir: str) -> dict:
    """The settings the parent wrote with ``repr`` (plain literals; nothing of the program's yet)."""
    with open(os.path.join(workdir, CONFIG_FILE), encoding="utf-8") as f:
        return eval(f.read(), {"__builtins__": {}}, {})


def _record(fd: int, nonce: str, kind: str, **fields) -> None:
    """Write one JSON line to the result pipe (``os.write`` raises no audit event)."""
    data = (_dumps({"nonce": nonce, "kind": kind, **fields}) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def _wait_status(pid: int) -> dict:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"code": None, "signal": os.WTERMSIG(status)}
    return {"code": os.WEXITSTATUS(status), "signal": None}


def _supervise(workdir: str) -> int:
    """The supervisor: namespaces, then init (pid 1 inside), then the harness as init's child.

    The supervisor is a child subreaper: every orphan of the sandbox is re-parented to it, and it
    returns only when it has reaped them all. SIGTERM (sent by ``run_program`` at a limit) makes it
    SIGKILL init's process group; in a pid namespace the kernel then kills the rest.
    """
    import signal
    init = 0

    def stop(_signum, _frame):
        if init:
            try:
                os.killpg(init, signal.SIGKILL)
            except OSError:
                pass
    signal.signal(signal.SIGTERM, stop)
    cfg = _load_config(workdir)
    ctypes, libc = isolation.libc()
    if libc is None:
        done, missing = [], [f"namespaces, private mounts, capability drop (Linux only; this is {sys.platform})"]
    else:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        done, missing = isolation.new_namespaces(libc, ctypes, network=True) if cfg["namespaces"] \
            else ([], ["namespaces (not asked for)"])
    init = os.fork()
    if init == 0:
        try:  # init: dies with the supervisor; when it exits, the kernel kills every process of the namespace
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.setpgid(0, 0)
            _init(libc, ctypes, cfg, workdir, done, missing)
        finally:
            os._exit(0)
    try:
        os.setpgid(init, init)  # both sides set it, so a SIGTERM right after the fork finds the group
    except OSError:
        pass
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return 0


def _init(libc, ctypes, cfg: dict, workdir: str, done: list, missing: list) -> None:
    """Pid 1 of the new namespace (when there is one): mounts, capabilities, then the harness."""
    fd, nonce = cfg["result_fd"], cfg["nonce"]
    python = os.path.realpath(sys.executable)  # the view holds the interpreter itself, not a venv's link
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        if "mount namespace" in done:
            more, lacking = isolation.private_mounts(libc, ctypes, workdir, isolation.python_view(python))
            done, missing = done + more, missing + lacking
        more, lacking = isolation.drop_privileges(libc, ctypes, own=(workdir,), nobody=isolation.VIEW in done)
        done, missing = done + more, missing + lacking
    why = isolation.lacking(done, missing, REQUIRED) if cfg["namespaces"] else None
    if why is not None:
        _record(fd, nonce, "refused", detail=f"{why}; without them only the in-process audit hook would "
                                             f"stand between the program and this machine, and it is no boundary")
        return
    _record(fd, nonce, "setup", protections=done, missing=missing)
    harness = os.fork()
    if harness == 0:
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        try:
            os.execv(python, command(python, "--harness", workdir, cfg["compiled"]))
        finally:
            os._exit(EXIT_SETUP)
    _record(fd, nonce, "exit", **_wait_status(harness))


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _make_audit_hook(fd: int, nonce: str, workdir: str, readable: tuple[str, ...]):
    """The Python-level layer: refuse network, processes, signals, native code, and files outside."""
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    process_events = {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec",
                      "subprocess.Popen", "os.startfile"}
    signal_events = {"os.kill", "os.killpg", "signal.pthread_kill"}
    changes = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
               "os.link": (0, 1), "os.symlink": (1,), "os.chmod": (0,), "os.chown": (0,),
               "os.utime": (0,), "os.truncate": (0,), "os.mkfifo": (0,), "os.mknod": (0,),
               "shutil.rmtree": (0,), "os.setxattr": (0,), "os.removexattr": (0,)}
    # bound now, so that a program that replaces os._exit or the module's functions later does
    # not change what a refusal does (it can still reach these through frames: see docs/sandbox.md)
    realpath, fspath, fsdecode, exit_now, record = os.path.realpath, os.fspath, os.fsdecode, os._exit, _record
    write_roots = (workdir,)

    def resolve(p) -> str | None:
        if isinstance(p, int) or p is None:
            return None  # an open file descriptor: inherited ones are stdout/stderr and the pipes
        return realpath(fsdecode(fspath(p)))

    def refuse(kind: str, what: str):
        try:
            record(fd, nonce, "violation", what=kind, detail=what[:300])
        finally:
            exit_now(EXIT_VIOLATION)
        raise PermissionError(f"sandbox: {kind}")  # only reached if exiting failed: still refuse

    def hook(event: str, args: tuple) -> None:
        try:
            if event == "open":
                path = resolve(args[0])
                mode, flags = args[1], args[2] if len(args) > 2 else 0
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                    (isinstance(flags, int) and flags & write_flags)
                if path is None:
                    return
                if writing and not _under(path, write_roots):
                    refuse("write", f"open({path!r}, {mode or flags!r}) outside the working directory")
                if not writing and not _under(path, readable):
                    refuse("read", f"open({path!r}) outside the working directory and the standard library")
            elif event in ("os.listdir", "os.scandir"):
                path = resolve(args[0] if args else ".")
                if path is not None and not _under(path, readable):
                    refuse("read", f"{event}({path!r}) outside the working directory and the standard library")
            elif event in changes:
                for i in changes[event]:
                    path = resolve(args[i])
                    if path is not None and not _under(path, write_roots):
                        refuse("write", f"{event}({path!r}) outside the working directory")
            elif event.startswith("socket.") or event == "urllib.Request":
                refuse("network", f"{event}{args!r}"[:200])
            elif event in process_events:
                refuse("process", f"{event}: starting another process")
            elif event in signal_events:
                refuse("signal", f"{event}{args!r}: sending a signal")
            elif event in ("resource.setrlimit", "resource.prlimit"):
                refuse("limits", f"{event}{args!r}: changing the resource limits")
            elif event == "import" and args[0] in BLOCKED_MODULES:
                kind = "process" if args[0] == "_posixsubprocess" else "native code"
                refuse(kind, f"import {args[0]}")
            elif event in ("ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function"):
                refuse("native code", event)
        except BaseException:  # a broken argument must not slip through: refuse what we cannot judge
            refuse("unknown", f"{event}: could not check its arguments")

    return hook


def _set_limits(cfg: dict) -> tuple[list[str], list[str]]:
    """Set the rlimits (soft = hard: raising one needs a capability the harness no longer has)."""
    import resource
    limits = [(resource.RLIMIT_CPU, cfg["cpu_seconds"], f"{cfg['cpu_seconds']} s CPU"),
              (resource.RLIMIT_AS, cfg["memory_limit"], f"{cfg['memory_limit'] / 2**20:g} MiB address space"),
              (resource.RLIMIT_FSIZE, cfg["file_size_limit"], f"{cfg['file_size_limit'] / 2**20:g} MiB per file"),
              (resource.RLIMIT_NOFILE, cfg["open_files_limit"], f"{cfg['open_files_limit']} open files"),
              (resource.RLIMIT_NPROC, 0, "0 new processes"),
              (resource.RLIMIT_CORE, 0, "no core dumps")]
    done, missing = [], []
    for which, value, text in limits:
        try:
            resource.setrlimit(which, (value, value))
            done.append(text)
        except (ValueError, OSError) as exc:  # e.g. a platform without RLIMIT_AS enforcement
            missing.append(f"rlimit {text} ({exc})")
    return done, missing


def _jsonable(value) -> dict:
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError):
        return {"unserializable": type(value).__name__}
    if len(text) > VALUE_LIMIT:
        return {"too_large": len(text)}
    return {"value": text}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _harness(workdir: str) -> int:
    """Inside the sandbox: limits, audit hook, then the program and the calls; one results record."""
    import builtins
    cfg = _load_config(workdir)
    os.unlink(os.path.join(workdir, CONFIG_FILE))
    fd, nonce = cfg["result_fd"], cfg["nonce"]
    os.set_inheritable(fd, False)
    try:
        limits, limits_missing = _set_limits(cfg)
        loaded = BLOCKED_MODULES.intersection(sys.modules)
        if loaded:
            raise RuntimeError(f"modules the hook must refuse are already loaded: {sorted(loaded)}")
        readable = (workdir, *[p for p in sys.path if p], os.path.realpath(__file__), "/dev/null", "/dev/urandom")
        readable = tuple(sorted({os.path.realpath(p) for p in readable}))
        hook = _make_audit_hook(fd, nonce, os.path.realpath(workdir), readable)
        if cfg["audit_hook"]:
            sys.addaudithook(hook)
    except BaseException as exc:
        _record(fd, nonce, "setup_error", detail=_describe(exc))
        os._exit(EXIT_SETUP)
    _record(fd, nonce, "ready", limits=limits, missing=limits_missing, audit_hook=bool(cfg["audit_hook"]))

    def finish(status: str, detail: str = "", outcomes: list | None = None):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        _record(fd, nonce, "results", status=status, detail=detail, outcomes=outcomes or [])
        os._exit(0)

    namespace = {"__name__": "solution", "__builtins__": builtins}
    try:
        with open(os.path.join(workdir, PROGRAM_FILE), encoding="utf-8") as f:
            code = compile(f.read(), PROGRAM_FILE, "exec")
        exec(code, namespace)
    except MemoryError:
        namespace.clear()
        finish("memory", "the program ran out of memory while loading")
    except BaseException as exc:
        import traceback
        traceback.print_exc()
        finish("crashed", f"the program raised {_describe(exc)} while loading")
    outcomes = []
    for call in cfg["calls"]:
        try:
            outcomes.append(_jsonable(eval(call, namespace)))
        except MemoryError:
            namespace.clear()
            finish("memory", f"the program ran out of memory in {call}")
        except BaseException as exc:
            outcomes.append({"error": _describe(exc)})
    finish("ok", "", outcomes)
    return 0


CODE_FILE = ".sandbox_child.bin"     # course_lib.isolation and this module, compiled by the parent (marshal)
SOURCE_FILE = ".sandbox_child.py"   # or their sources, when the child runs another interpreter
ISOLATION_SOURCE = ".isolation.py"


def command(python: str, mode: str, workdir: str, compiled: bool) -> list[str]:
    """The command line that runs this module's ``main`` in a fresh, isolated interpreter.

    ``-I`` ignores the environment and user site, ``-S`` skips site-packages, ``-B`` writes no
    bytecode. The module's code comes from the working directory: compiled once by the parent
    (``compiled``, same interpreter) or as source; importing it would compile it on every run
    wherever bytecode caching is off (PYTHONDONTWRITEBYTECODE) and would put course_lib on sys.path.
    """
    here = os.path.realpath(__file__)
    load = (f"marshal.loads(open(d + '/{CODE_FILE}', 'rb').read())" if compiled
            else f"(compile(open(d + '/{ISOLATION_SOURCE}').read(), 'isolation.py', 'exec'), "
                 f"compile(open(d + '/{SOURCE_FILE}').read(), {here!r}, 'exec'))")
    boot = (f"import marshal, sys; d = sys.argv[2]; iso, code = {load}; m = type(sys)('isolation'); "
            f"exec(iso, m.__dict__); g = {{'__name__': '_sandbox_child', '__file__': {here!r}, 'isolation': m}}; "
            f"exec(code, g); sys.exit(g['main']())")
    return [python, "-I", "-S", "-B", "-c", boot, mode, workdir]


def main() -> int:
    """Entry point: ``--supervise DIR`` or ``--harness DIR``."""
    mode, workdir = sys.argv[1], sys.argv[2]
    return _supervise(workdir) if mode == "--supervise" else _harness(workdir)
