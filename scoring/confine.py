"""Operating-system confinement of a candidate without root: Linux namespaces where the kernel allows them.

Parent side: `namespace_prefix()` is the argv prefix that starts the runner in new user, network, PID, IPC,
UTS and mount namespaces (`unshare`), or nothing where that is not possible (macOS, kernels that forbid
unprivileged user namespaces); the evaluation then says so in its notes instead of pretending.

Child side (the runner, before any candidate code): `lock_down()` replaces the file system the process sees
by an ALLOWLIST: a new root holding only the system folders, the Python installation, the `scoring` package
and the folders it is told (read-only, and the run folder writable), then drops every capability. What is
not named is not there at all: no other run's weights or logs, no lineage database, no dataset cache, no
home, no temporary folder, no user's files wherever they lie. In the PID namespace the runner is process 1:
when it exits, the kernel kills every process the candidate started, however it detached itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import glob
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

UNSHARE_ARGS = ("--user", "--map-root-user", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
                "--mount-proc")
SHM_SIZE = "size=256m"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
          "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}


@functools.cache
def namespace_prefix() -> tuple[str, ...]:
    """`unshare ...` if this host runs a child in fresh namespaces without root, else ()."""
    if not sys.platform.startswith("linux") or os.environ.get("EVOLVE_NO_NAMESPACES") == "1":
        return ()
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    try:
        probe = subprocess.run([exe, *UNSHARE_ARGS, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (exe, *UNSHARE_ARGS) if probe.returncode == 0 else ()


# What any Python process needs from the system, read-only (absent ones are skipped; /bin and the like may be
# symbolic links into /usr, recreated as links). /proc is the PID namespace's own, mounted by `--mount-proc`.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys")
# /dev holds only these nodes (the GPUs' among them): a raw disk is not there for a candidate running as root.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty", "nvidia*", "kfd", "dri")
# Where the new root is assembled before it becomes "/": every source is opened (and every link read) before
# the stage covers this folder, so a folder inside it (a pytest run folder) can still be let in.
STAGE = "/tmp"
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}  # syscall numbers


@functools.cache
def python_paths() -> tuple[str, ...]:
    """What the child's Python (`python -I`) needs to start and import torch and `scoring`: the interpreter, its
    library and site-packages (a virtualenv inside the project included) and the `scoring` package folder,
    to which the editable install's finder maps the name. Not the project folder around that package: it holds
    every run's weights and logs and every campaign's lineage (an old-style editable `.pth` puts it on sys.path;
    it is left out, the package folder inside it is enough)."""
    package = Path(__file__).resolve().parent
    probe = subprocess.run([sys.executable, "-I", "-c", "import sys; print(chr(10).join(sys.path))"],
                           capture_output=True, text=True, timeout=60)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    paths.update(p for p in probe.stdout.splitlines() if p and os.path.isdir(p))
    paths = {os.path.realpath(p) for p in paths}
    return tuple(sorted({p for p in paths if not _under(str(package.parent), (p,))} | {str(package)}))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _c(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(libc.mount(_c(source), _c(target), _c(fstype), ctypes.c_ulong(flags), _c(data)), f"mount {target}")


def _mounts() -> list[tuple[str, set[str]]]:
    """(mount point, per-mount options) from /proc/self/mountinfo, in mount order."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            found.append((point, set(fields[5].split(","))))
    return found


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _links_on_the_way(path: str, found: dict[str, str], depth: int = 0) -> None:
    """Each symbolic link met while resolving `path` (/lib64 -> usr/lib64, a symlinked home): recreated in the
    new root, the path the caller knows resolves there as it does here."""
    cur, parts = "/", Path(os.path.abspath(path)).parts[1:]
    for i, part in enumerate(parts):
        cur = os.path.join(cur, part)
        if os.path.islink(cur) and depth < 40:
            found[cur] = os.readlink(cur)
            rest = os.path.join(os.path.dirname(cur), found[cur], *parts[i + 1 :])
            _links_on_the_way(os.path.normpath(rest), found, depth + 1)
            return


def _sources(readable: Sequence[str], writable: Sequence[str]) -> list[str]:
    """The real paths to bind, parents first; one inside another of the same kind is in the new root already."""
    kind = {os.path.realpath(p): False for p in readable if os.path.exists(p)}
    kind.update({os.path.realpath(p): True for p in writable if os.path.exists(p)})
    chosen: list[str] = []
    for real in sorted(kind):
        around = [c for c in chosen if _under(real, (c,))]
        if not around or kind[max(around, key=len)] != kind[real]:
            chosen.append(real)
    return chosen


def _build_root(libc: ctypes.CDLL, readable: Sequence[str], writable: Sequence[str]) -> None:
    """A tmpfs on STAGE holding a bind mount of each allowed path at the same absolute path."""
    links: dict[str, str] = {}
    for path in (*readable, *writable):
        _links_on_the_way(path, links)
    fds = {real: os.open(real, os.O_PATH) for real in _sources(readable, writable)}
    try:
        _mount(libc, "tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        for real in fds:  # parents before what lies inside them (a writable run folder in a readable one)
            target = STAGE + real
            if not os.path.lexists(target):  # else it is already there, inside a folder bound before
                if os.path.isdir(f"/proc/self/fd/{fds[real]}"):
                    os.makedirs(target)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    open(target, "x").close()
            recursive = 0 if _under(STAGE, (real,)) else MS_REC  # never the stage inside itself
            _mount(libc, f"/proc/self/fd/{fds[real]}", target, None, MS_BIND | recursive)
        os.makedirs(f"{STAGE}/dev/shm", exist_ok=True)
        links.update({"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
                      "/dev/stderr": "/proc/self/fd/2"})
        for link, dest in sorted(links.items()):
            if not os.path.lexists(STAGE + link):
                os.makedirs(os.path.dirname(STAGE + link), exist_ok=True)
                os.symlink(dest, STAGE + link)
    finally:
        for fd in fds.values():
            os.close(fd)


def _pivot(libc: ctypes.CDLL, new_root: str) -> None:
    """Make `new_root` this process's "/" and detach the old root altogether (a chroot would only hide it)."""
    number = _PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(new_root)
    _check(libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")  # the old root now lies on top of "."
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


# Kept whole (complexity 18): the confinement is this exact order of mounts and drops, read top to bottom.
def lock_down(writable: Sequence[str], readable: Sequence[str], scratch: bool = False) -> list[str]:
    """Inside fresh user, mount and PID namespaces: from now on this process and its children see only
    SYSTEM, `readable` (read-only) and `writable` (read-write; may be empty: then no folder is writable, and
    /dev/shm is writable only as a `scratch` space: a tmpfs in memory, private to this mount namespace, gone
    with it), each at its own path, in a new root file system; no capabilities, no new privileges.
    `readable` must name what the interpreter needs (`python_paths()`). Returns what failed (then the process
    may see more than that, but not less); raises OSError if the new root could not be put in place."""
    libc, failures = _libc(), []
    rw = [os.path.realpath(p) for p in writable]
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the parent namespace
    devices = [d for pattern in DEVICES for d in glob.glob(f"/dev/{pattern}")]
    _build_root(libc, [*SYSTEM, *devices, *readable], writable)
    _pivot(libc, STAGE)
    if scratch:  # the temporary folder too (torch's compiler caches): in memory, private, gone with the process
        os.environ["TMPDIR"] = tempfile.tempdir = "/dev/shm"
    elif not rw:  # tempfile.gettempdir() writes a file to pick a folder, and raises where none can be; torch calls
        tempfile.tempdir = os.environ.get("TMPDIR") or "/tmp"  # it on import, only to name a cache it may never use
    # A private /dev/shm (the host's holds other processes' shared memory); read-only when nothing may be written.
    shm_flags = MS_NOSUID | MS_NODEV | (0 if rw or scratch else MS_RDONLY)
    try:
        _mount(libc, "tmpfs", "/dev/shm", "tmpfs", shm_flags, SHM_SIZE)
    except OSError as e:
        failures.append(str(e))
    keep = (*rw, "/dev/shm") if rw or scratch else ()
    for point, opts in _mounts():
        if _under(point, keep) or "ro" in opts:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY  # the flags the mount was locked with must be kept
        for name, bit in _FLAGS.items():
            if name in opts:
                flags |= bit
        try:
            _mount(libc, None, point, None, flags)
        except OSError as e:
            failures.append(str(e))
    _drop_capabilities(libc)
    return failures


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """Empty bounding set (so exec cannot regain them) and empty capability sets; no new privileges."""
    last = 40
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        pass
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
