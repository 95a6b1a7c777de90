"""The system calls a candidate's processes may not make: a seccomp filter, kernel-enforced.

The runner and the fresh evaluation processes install it after `confine.lock_down` and before any candidate
code runs (Linux on x86_64 or aarch64). A denied call fails with EPERM; the filter cannot be removed and
every child inherits it. It denies the tools for state that outlives an evaluation and is shared with the
next one:
- the page cache (whether a file's pages are in memory is the same for every process on the host, and
  lasts): `mincore`, `cachestat` and reads with RWF_NOWAIT (`preadv2`, `io_uring`) read it without
  changing it; `fadvise64`, `madvise` with MADV_COLD or MADV_PAGEOUT, and `process_madvise` evict;
  `readahead` and MADV_RANDOM steer what a read brings in. A red-team candidate stored the fitness windows'
  text there, one page of an unused library file per bit, and read it back in its next evaluation;
- the kernel's key store (`add_key`, `keyctl`, `request_key`): a session keyring inherited from the
  controller is shared by every sandbox;
- `perf_event_open` (hardware counters of other work), and system calls of another ABI (32-bit on x86_64),
  whose numbers this filter does not name.
What it cannot close: a read's timing, and pages mapped by fault-around as seen in /proc/self/pagemap, still
tell a cached page from one on disk (RELIABILITY.md).
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
import sys

from scoring.confine import PR_SET_NO_NEW_PRIVS, _libc

# struct seccomp_data: nr (u32), arch (u32), instruction pointer (u64), args[6] (u64, little-endian here)
_NR, _ARCH = 0, 4
_ARG = [16 + 8 * i for i in range(6)]
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, ..., BPF_RET|K
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
MADV_RANDOM, MADV_COLD, MADV_PAGEOUT = 1, 20, 21
RWF_NOWAIT = 8

# name: (x86_64, aarch64)
_NUMBERS = {
    "mincore": (27, 232), "madvise": (28, 233), "fadvise64": (221, 223), "readahead": (187, 213),
    "cachestat": (451, 451), "process_madvise": (440, 440), "preadv2": (327, 286), "pwritev2": (328, 287),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219), "perf_event_open": (298, 241),
}
DENIED = ("mincore", "fadvise64", "readahead", "cachestat", "process_madvise", "io_uring_setup", "io_uring_enter",
          "io_uring_register", "add_key", "request_key", "keyctl", "perf_event_open")
_ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}  # platform.machine(): (column, AUDIT_ARCH)


def supported() -> bool:
    """Whether this host gets the filter: Linux on a machine whose system-call numbers are known here."""
    return sys.platform.startswith("linux") and platform.machine() in _ARCHES


def program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter for `machine` (platform.machine()), as BPF instructions (code, jump if true, if false, k)."""
    column, audit_arch = _ARCHES[machine]
    nr = {name: pair[column] for name, pair in _NUMBERS.items()}
    deny = [nr[name] for name in DENIED]
    # laid out: checks, then ALLOW at `allow`, DENY at `allow + 1`; every jump counts from the next instruction
    checks: list[tuple[int, object, object, int]] = [(_LD, 0, 0, _ARCH), (_JEQ, 0, "deny", audit_arch),
                                                     (_LD, 0, 0, _NR)]
    if column == 0:  # the x32 ABI: numbers with bit 30 set
        checks.append((_JGE, "deny", 0, 0x40000000))
    checks += [(_JEQ, "deny", 0, n) for n in deny]
    checks += [(_JEQ, "madvise", 0, nr["madvise"]), (_JEQ, "nowait", 0, nr["preadv2"]),
               (_JEQ, "nowait", 0, nr["pwritev2"]), (_RET, 0, 0, _ALLOW)]
    labels = {"madvise": len(checks)}
    checks += [(_LD, 0, 0, _ARG[2]), (_JEQ, "deny", 0, MADV_COLD), (_JEQ, "deny", 0, MADV_PAGEOUT),
               (_JEQ, "deny", 0, MADV_RANDOM), (_RET, 0, 0, _ALLOW)]
    labels["nowait"] = len(checks)
    checks += [(_LD, 0, 0, _ARG[5]), (_JSET, "deny", 0, RWF_NOWAIT), (_RET, 0, 0, _ALLOW)]
    labels["deny"] = len(checks)
    checks.append((_RET, 0, 0, _ERRNO | errno.EPERM))

    def jump(at: int, to: object) -> int:
        return 0 if to == 0 else labels[to] - at - 1

    return [(code, jump(i, jt), jump(i, jf), k) for i, (code, jt, jf, k) in enumerate(checks)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny() -> str | None:
    """Install the filter on this process (and so on everything it starts). None when installed, else why not."""
    if not supported():
        return f"no system-call filter on {sys.platform} {platform.machine()}"
    code = b"".join(struct.pack("<HBBI", *ins) for ins in program(platform.machine()))
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _Prog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        return f"system-call filter refused: {errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())}"
    return None
