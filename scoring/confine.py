"""Operating-system confinement of a candidate without root: Linux namespaces where the kernel allows them.

Parent side: `namespace_prefix()` is the argv prefix that starts the runner in a new user, network, PID and
mount namespace (`unshare`), or nothing where that is not possible (macOS, kernels that forbid
unprivileged user namespaces); the evaluation then says so in its notes instead of pretending.

Child side (the runner, before any candidate code): `lock_down()` inside those namespaces covers the
folders that hold data the candidate must not read (the dataset cache, the user's home, the temporary
folder) with empty file systems, putting back only what the child needs (the Python installation, the
run folder); then it makes every file system read-only except the folders it is told to keep writable,
puts a small private tmpfs on /dev/shm, and drops every capability, so candidate code can neither undo
it, read the validation or test data, nor write the lineage database, the user's files or the seed.
In the PID namespace the runner is process 1: when it exits,
the kernel kills every process the candidate started, however it detached itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

UNSHARE_ARGS = ("--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc")
SHM_SIZE = "size=256m"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
          "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
# Kernel file systems: no user data to protect, and /proc is the namespace's own.
_SKIP = ("/proc", "/sys", "/dev")


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


_SYSTEM = ("/", "/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin", "/opt", "/var", "/proc", "/sys", "/dev", "/run")


def secret_folders(dataset_root: Path) -> list[Path]:
    """Folders a candidate has no business reading and that may hold the evaluation data or its source:
    the dataset cache, the user's home (pip's cache keeps downloaded corpora there), the temporary folder."""
    found = {os.path.realpath(p) for p in (dataset_root.parent.parent, Path.home(), tempfile.gettempdir())}
    return [Path(p) for p in sorted(found) if p not in _SYSTEM]


@functools.cache
def python_paths() -> tuple[str, ...]:
    """What the child's Python (`python -I`) needs to start and import torch and this package: kept visible."""
    probe = subprocess.run([sys.executable, "-I", "-c", "import sys; print(chr(10).join(sys.path))"],
                           capture_output=True, text=True, timeout=60)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parent.parent)}
    paths.update(p for p in probe.stdout.splitlines() if p and os.path.isdir(p))
    return tuple(sorted(os.path.realpath(p) for p in paths))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _c(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    if libc.mount(_c(source), _c(target), _c(fstype), ctypes.c_ulong(flags), _c(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mounts() -> list[tuple[str, set[str]]]:
    """(mount point, per-mount options) from /proc/self/mountinfo, in mount order."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            found.append((point, set(fields[5].split(","))))
    return found


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _hide(libc: ctypes.CDLL, folder: str, keep: tuple[str, ...]) -> None:
    """Cover `folder` with an empty tmpfs, then bind back each folder of `keep` that lies inside it."""
    inside = [k for k in keep if k != folder and _under(k, (folder,)) and os.path.isdir(k)]
    inside = [k for k in inside if not any(o != k and _under(k, (o,)) for o in inside)]  # outermost only
    fds = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in inside]  # handles that outlive the covering
    try:
        _mount(libc, "tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
        for k, fd in zip(inside, fds, strict=True):
            os.makedirs(k, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
    finally:
        for fd in fds:
            os.close(fd)


def lock_down(writable: list[str], hide: list[str] = (), keep: list[str] = ()) -> list[str]:
    """Folders in `hide` covered (except what `writable` and `keep` need), read-only file systems except
    `writable`, private /dev/shm, no capabilities. Returns what failed."""
    libc, failures = _libc(), []
    writable_real = tuple(os.path.realpath(p) for p in writable)
    needed = writable_real + tuple(os.path.realpath(p) for p in keep)
    for folder in sorted({os.path.realpath(h) for h in hide}, key=len):
        if not os.path.isdir(folder):
            continue  # inside a folder hidden already (or never there): nothing to cover
        try:
            _hide(libc, folder, needed)
        except OSError as e:
            failures.append(str(e))
    keep = writable_real
    for path in keep:
        _mount(libc, path, path, None, MS_BIND | MS_REC)
    try:
        _mount(libc, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, SHM_SIZE)
    except OSError as e:
        failures.append(str(e))
    for point, opts in _mounts():
        if _under(point, keep) or _under(point, _SKIP) or "ro" in opts:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
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
