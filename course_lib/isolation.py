"""The kernel's isolation of code the course does not trust: one home for the grader and the sandbox.

Both places that run untrusted code (the grader's kernels and sub-graders, ``course_lib.grading``;
the code-execution sandbox's programs, ``course_lib.sandbox``) build the same boundary from Linux
kernel features, in this order:

1. ``new_namespaces``: new mount and pid namespaces (and a network namespace where asked); as root
   directly, otherwise inside a new *user namespace* that maps only the caller's own ids.
2. ``fork``: the next process is pid 1 of the new pid namespace. When it exits, the kernel kills
   every process left in the namespace (a double-forked, ``setsid`` child included) and the
   parent's ``waitpid`` returns only once they are all gone.
3. ``private_mounts`` (in pid 1): a ``/proc`` that shows only the namespace's processes; a *view*
   of the filesystem, a fresh root holding only the listed paths, read-only (``mount_setattr(2)``,
   ``MOUNT_ATTR_RDONLY``), except the working directory; the old root is detached (``pivot_root``).
4. ``drop_privileges``: the capability bounding set emptied, an unprivileged user id (``nobody``,
   65534, when the caller is root; the caller's own id otherwise), every capability cleared
   (``capset``), ``no_new_privs``. The process can no longer call ``mount`` in its namespace, and a
   user namespace it creates later gets copies of the mounts that the kernel *locks*: their
   read-only flag cannot be cleared there (mount_namespaces(7), "restrictions on mount namespaces").

Only ``os`` and ``sys`` are imported at the top: the sandbox loads this module's code into an
interpreter started with ``-I -S`` before the program runs (``ctypes`` is loaded in ``libc``).
"""
from __future__ import annotations

import os
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 24, 36, 38
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
NOBODY = 65534  # the unprivileged user id (and group id) learner code runs as when the caller is root
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def libc():
    """(ctypes, libc) on Linux, (None, None) elsewhere: the kernel layers are Linux's."""
    if not sys.platform.startswith("linux"):
        return None, None
    import ctypes
    return ctypes, ctypes.CDLL(None, use_errno=True)


def unshare(lib, ctypes, flags: int) -> str | None:
    """``unshare(2)``; None on success, else the error text."""
    if hasattr(os, "unshare"):  # Python 3.12+
        try:
            os.unshare(flags)
            return None
        except OSError as exc:
            return exc.strerror
    if lib.unshare(flags) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def new_namespaces(lib, ctypes, *, network: bool = False) -> tuple[list[str], list[str]]:
    """New mount + pid (+ network) namespaces for this process's next children; (done, missing).

    As root they are made directly; otherwise inside a new user namespace that maps only our own
    user and group ids, so that files keep their owners.
    """
    flags = CLONE_NEWPID | CLONE_NEWNS | (CLONE_NEWNET if network else 0)
    names = (["network namespace"] if network else []) + ["pid namespace", "mount namespace"]
    err = unshare(lib, ctypes, flags)
    if err is None:
        return names, []
    uid, gid = os.getuid(), os.getgid()
    err_user = unshare(lib, ctypes, flags | CLONE_NEWUSER)
    if err_user is not None:
        return [], [f"{' and '.join(names)} ({err}; as a user: {err_user})"]
    try:
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                           ("/proc/self/gid_map", f"{gid} {gid} 1")):
            with open(path, "w") as f:
                f.write(text)
    except OSError as exc:
        return ["user namespace"], [f"user namespace id maps ({exc.strerror})"]
    return ["user namespace", *names], []


def _mount(lib, ctypes, src, dst: str, fstype, flags: int, data=None) -> str | None:
    ok = lib.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                   data and data.encode())
    return None if ok == 0 else f"{dst}: {os.strerror(ctypes.get_errno())}"


def _set_read_only(lib, ctypes, path: str, read_only: bool) -> str | None:
    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0) if read_only else MountAttr(0, MOUNT_ATTR_RDONLY, 0, 0)
    ok = lib.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE, ctypes.byref(attr),
                     ctypes.sizeof(attr))
    return None if ok == 0 else f"{path}: {os.strerror(ctypes.get_errno())}"


def _place(newroot: str, path: str) -> str:
    """Make ``path`` reach in ``newroot`` what it reaches in ``/`` (its symlinks copied); its real path."""
    parts, cur, hops = [p for p in path.split("/") if p], "/", 0
    i = 0
    while i < len(parts):
        nxt = os.path.join(cur, parts[i])
        if os.path.islink(nxt):
            hops += 1
            if hops > 40:
                raise OSError(f"too many symbolic links in {path}")
            target = os.readlink(nxt)
            if not os.path.lexists(newroot + nxt):
                os.makedirs(newroot + cur, exist_ok=True)
                os.symlink(target, newroot + nxt)
            parts = [p for p in os.path.normpath(os.path.join(cur, target)).split("/") if p] + parts[i + 1:]
            cur, i = "/", 0
            continue
        cur, i = nxt, i + 1
    return cur


def private_mounts(lib, ctypes, workdir: str, view=None, *, scratch=()) -> tuple[list[str], list[str]]:
    """In pid 1 of new mount + pid namespaces: a private ``/proc``; everything read-only but ``workdir``.

    ``view``: None keeps the whole filesystem visible (read-only); a list of paths builds a fresh
    root that holds only those paths (read-only), ``workdir`` (writable), a few devices
    (``DEVICES``) and ``/proc``, and detaches the old root. ``scratch``: paths that get an empty,
    private, writable tmpfs of 64 MiB in the view (e.g. ``/dev/shm``).
    """
    done, missing = [], []
    workdir = os.path.realpath(workdir)
    if (err := _mount(lib, ctypes, None, "/", None, MS_REC | MS_PRIVATE)) is not None:
        return done, [f"private mounts ({err})"]
    if view is None:
        if (err := _mount(lib, ctypes, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)) is None:
            done.append("private /proc (only the namespace's processes)")
        else:
            missing.append(f"private /proc ({err})")
        err = (_mount(lib, ctypes, workdir, workdir, None, MS_BIND | MS_REC)
               or _set_read_only(lib, ctypes, "/", True) or _set_read_only(lib, ctypes, workdir, False))
        if err is None:
            os.chdir(workdir)  # the old cwd points below the bind mount, at the read-only copy
            done.append("read-only filesystem except the working directory")
        else:
            missing.append(f"read-only filesystem ({err})")
        return done, missing
    try:
        newroot = os.path.join(workdir, ".root")
        os.makedirs(newroot, exist_ok=True)
        err = _mount(lib, ctypes, "tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        if err is not None:
            raise OSError(err)
        binds = {}
        for path in [*view, *DEVICES]:
            if os.path.lexists(path):
                real = _place(newroot, os.path.abspath(path))
                if os.path.exists(real):
                    binds[real] = os.path.isdir(real)
        wanted = sorted(binds)
        kept = [p for p in wanted if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in wanted)]
        for real in kept:
            target = newroot + real
            if binds[real]:
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "a").close()
            if (err := _mount(lib, ctypes, real, target, None, MS_BIND | MS_REC)) is not None:
                raise OSError(err)
        os.makedirs(newroot + workdir, exist_ok=True)
        # not recursive: the view's own mount point (workdir/.root) stays out of the view
        if (err := _mount(lib, ctypes, workdir, newroot + workdir, None, MS_BIND)) is not None:
            raise OSError(err)
        os.makedirs(newroot + "/proc", exist_ok=True)
        if (err := _mount(lib, ctypes, "proc", newroot + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)):
            raise OSError(err)
        for path in scratch:
            os.makedirs(newroot + path, exist_ok=True)
            if (err := _mount(lib, ctypes, "tmpfs", newroot + path, "tmpfs", MS_NOSUID | MS_NODEV,
                              "size=64m,mode=1777")):
                raise OSError(err)
        # /proc stays writable: a process may write only its own entries there without a capability
        # (its user namespace's id maps, so that the sandbox can run inside the grader's kernel)
        err = (_set_read_only(lib, ctypes, newroot, True) or _set_read_only(lib, ctypes, newroot + workdir, False)
               or _set_read_only(lib, ctypes, newroot + "/proc", False))
        for path in scratch:
            err = err or _set_read_only(lib, ctypes, newroot + path, False)
        if err is not None:
            raise OSError(err)
        os.chdir(newroot)
        number = SYS_PIVOT_ROOT.get(os.uname().machine)
        if number is not None and lib.syscall(number, b".", b".") == 0:
            lib.umount2(b".", MNT_DETACH)  # the old root, stacked below the new one, is gone
            os.chdir("/")
        else:
            os.chroot(".")  # an architecture without a known number: chroot (no capability to leave it)
        os.chdir(workdir)
    except OSError as exc:
        return done, [f"a filesystem view of its own ({exc})"]
    return ["private /proc (only the namespace's processes)", VIEW, *done], missing


def loopback_up() -> str | None:
    """Bring up ``lo`` in a new network namespace (it starts down); None on success, else the error."""
    import fcntl
    import socket
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("16sh", b"lo", 0)  # struct ifreq: name, flags, padding to 40 bytes
            flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, req + bytes(22))[:18])[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP) + bytes(22))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def drop_privileges(lib, ctypes, *, own: tuple[str, ...] = (), nobody: bool = True) -> tuple[list[str], list[str]]:
    """No capabilities in any namespace, an unprivileged user id, ``no_new_privs``; (done, missing).

    As root (and ``nobody``), the process becomes ``nobody`` (65534) after handing it the paths in
    ``own`` (its working directory); ``nobody=False`` where no view was built (``nobody`` may not
    reach the interpreter then). Irreversible for this process and everything it starts.
    """
    errors = []
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        if lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            errors.append(f"bounding set: {os.strerror(ctypes.get_errno())}")
            break
    done = []
    if os.geteuid() == 0 and nobody:
        try:
            for top in own:
                for folder, dirs, files in os.walk(top):
                    for name in [folder, *[os.path.join(folder, n) for n in dirs + files]]:
                        os.lchown(name, NOBODY, NOBODY)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            done.append(f"user id {NOBODY} (nobody)")
        except OSError as exc:
            errors.append(f"user id {NOBODY}: {exc.strerror}")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; two 32-bit words each
    if lib.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        errors.append(f"capset: {os.strerror(ctypes.get_errno())}")
    if lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        errors.append(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
    if errors:
        return done, [f"privilege drop ({'; '.join(errors)})"]
    return [*done, "no capabilities, no_new_privs"], []


VIEW = "only the interpreter, its libraries and the working directory visible, all read-only but the working directory"
BOUNDARY = ("pid namespace", "mount namespace", "no capabilities, no_new_privs")


def lacking(done, missing, required=BOUNDARY) -> str | None:
    """What keeps ``done`` (protections in force) from being a boundary, in words; None when nothing.

    Besides ``required``, the filesystem must be read-only: a view of its own or, at least, every
    mount read-only but the working directory.
    """
    absent = [p for p in required if p not in done]
    if VIEW not in done and "read-only filesystem except the working directory" not in done:
        absent.append("a read-only filesystem")
    if not absent:
        return None
    return f"the kernel did not allow {', '.join(absent)} ({'; '.join(missing) or 'no reason given'})"


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent exits (Linux; elsewhere nothing happens)."""
    ctypes, lib = libc()
    if lib is not None:
        lib.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def holds_capabilities() -> bool:
    """Whether this process holds any capability (read from /proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("CapEff:", "CapPrm:")) and int(line.split()[1], 16):
                    return True
    except (OSError, ValueError, IndexError):
        return True
    return False


def python_view(executable: str | None = None) -> list[str]:
    """The paths a bare interpreter (``python -I -S``) needs: itself, its standard library and the
    system's shared libraries."""
    real = os.path.realpath(executable or sys.executable)
    prefix = os.path.dirname(os.path.dirname(real))
    return [real, os.path.join(prefix, "lib"), "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/lib32",
            "/usr/lib32", "/etc/ld.so.cache"]


def _leave_like(pid: int, status_pipe: int | None = None) -> None:
    """Wait for ``pid`` and end this process the same way (its exit code, or the same signal).

    ``status_pipe``: where ``pid`` writes the wait status of the process that matters (4 bytes)
    before it exits; without them (it was killed) this process dies by SIGKILL.
    """
    import signal

    got = b""
    if status_pipe is not None:
        while len(got) < 4:  # (os.read and os.waitpid retry by themselves when a signal interrupts them, PEP 475)
            chunk = os.read(status_pipe, 4 - len(got))
            if not chunk:
                break
            got += chunk
    _, status = os.waitpid(pid, 0)
    if status_pipe is not None:
        status = int.from_bytes(got, "little") if len(got) == 4 else signal.SIGKILL
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)  # SIGKILL and SIGSTOP have no handler to reset
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def contain() -> bool:
    """Run the rest of this single-threaded process in a new pid namespace of its own; True there.

    Unlike ``confine`` it needs no privilege (a user namespace that maps the caller's own ids) and
    changes no mount: it is for a forked child that runs learner code in the learner's own kernel.
    The namespace's init is a small process that only waits; the contained process (pid 2) cannot
    see or signal anything outside, and when it ends, everything it started ends with it. This
    process's caller sees it end as the contained process did (exit code or signal). False, with
    nothing changed, where the kernel refuses.
    """
    ctypes, lib = libc()
    if lib is None:
        return False
    uid, gid = os.getuid(), os.getgid()
    if unshare(lib, ctypes, CLONE_NEWUSER | CLONE_NEWPID) is not None:
        return False
    try:  # where /proc is read-only (inside the grader) the ids stay unmapped; files cannot be created
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                           ("/proc/self/gid_map", f"{gid} {gid} 1")):
            with open(path, "w") as f:
                f.write(text)
    except OSError:
        pass
    import signal

    r, w = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(r)
        lib.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        worker = os.fork()
        if worker == 0:
            os.close(w)
            lib.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
            return True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _, status = os.waitpid(worker, 0)
        os.write(w, status.to_bytes(4, "little"))
        os._exit(0)  # the namespace ends here: the kernel kills whatever the worker left
    os.close(w)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _leave_like(init, r)
    return False  # not reached


def confine(workdir: str, *, view=None, scratch=(), network: bool = False) -> tuple[list[str], list[str]]:
    """Run the rest of this process as pid 1 of new namespaces, confined to ``workdir``; (done, missing).

    Forks: the caller's process stays outside, waits for the confined one and leaves with its exit
    status (``os._exit``, or the same signal), so that nothing of the namespace outlives it. When
    the kernel refuses namespaces, nothing is forked and ``missing`` says why; the caller decides
    whether to go on. ``view``, ``scratch``: see ``private_mounts``.
    """
    ctypes, lib = libc()
    if lib is None:
        return [], [f"namespaces, read-only filesystem, privilege drop (Linux only; this is {sys.platform})"]
    done, missing = new_namespaces(lib, ctypes, network=network)
    if "pid namespace" not in done:
        return done, missing
    import signal

    pid = os.fork()
    if pid:  # outside: wait for pid 1, whose exit ends the namespace, then leave the same way
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: os.kill(pid, signal.SIGKILL))
        _leave_like(pid)
    lib.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    if network:
        err = loopback_up()
        done, missing = (done + ["loopback only (no other network)"], missing) if err is None else \
            (done, missing + [f"loopback interface ({err})"])
    more, lacking = private_mounts(lib, ctypes, workdir, view, scratch=scratch)
    done, missing = done + more, missing + lacking
    more, lacking = drop_privileges(lib, ctypes, own=(os.path.realpath(workdir),))
    return done + more, missing + lacking
