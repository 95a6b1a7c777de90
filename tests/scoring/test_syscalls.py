"""The system-call filter (scoring/syscalls.py) installed in a fresh process, as the runner and the final
evaluation's processes install it: the page-cache and key-store calls fail with EPERM, what training needs
still works. The filter cannot be removed, so each check runs in a child process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from scoring import syscalls

PROBE = textwrap.dedent("""
    import ctypes, mmap, os, platform, subprocess, sys
    from scoring import syscalls
    assert syscalls.deny() is None
    libc = ctypes.CDLL(None, use_errno=True)

    def errno_of(result):
        return "ok" if result >= 0 else os.strerror(ctypes.get_errno())

    def oserror(call):
        try:
            call()
        except OSError as e:
            return e.strerror
        return "ok"

    fd = os.open(sys.executable, os.O_RDONLY)
    anon = mmap.mmap(-1, 8192)
    addr = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.from_buffer(anon)))
    vec = (ctypes.c_ubyte * 2)()
    keyctl = {"x86_64": 250}.get(platform.machine(), 219)
    print("mincore", errno_of(libc.mincore(addr, ctypes.c_size_t(8192), vec)))
    print("fadvise", oserror(lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)))
    print("pageout", errno_of(libc.madvise(addr, ctypes.c_size_t(8192), 21)))
    print("random", errno_of(libc.madvise(addr, ctypes.c_size_t(8192), 1)))
    print("keyctl", errno_of(libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(1), ctypes.c_long(0))))  # join
    print("nowait", oserror(lambda: os.preadv(fd, [bytearray(8)], 0, os.RWF_NOWAIT)))
    # what an honest training needs
    print("dontneed", errno_of(libc.madvise(addr, ctypes.c_size_t(8192), 4)))
    print("preadv", "ok" if os.preadv(fd, [bytearray(8)], 0) == 8 else "short")
    import torch
    x = torch.randn(32, 32, requires_grad=True)
    (x @ x).tanh().sum().backward()
    print("torch", "ok" if x.grad is not None else "no grad")
    print("child", "ok" if subprocess.run([sys.executable, "-c", "pass"]).returncode == 0 else "failed")
""")


@pytest.mark.skipif(not syscalls.supported(), reason="seccomp filters exist on Linux only (x86_64 and aarch64 here)")
def test_the_filter_denies_the_page_cache_and_key_store_calls_and_leaves_training_alone():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    denied = "Operation not permitted"
    assert got == {"mincore": denied, "fadvise": denied, "pageout": denied, "random": denied, "keyctl": denied,
                   "nowait": denied, "dontneed": "ok", "preadv": "ok", "torch": "ok", "child": "ok"}


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_jump_of_the_filter_stays_inside_it_and_every_return_allows_or_denies(machine):
    prog = syscalls.program(machine)
    assert prog[-1] == (0x06, 0, 0, 0x00050001) and len(prog) < 256
    for i, (code, jt, jf, _) in enumerate(prog):
        for target in (i + 1 + jt, i + 1 + jf) if code & 0x07 == 0x05 else ():
            assert 0 <= target < len(prog)
        if code == 0x06:
            assert prog[i][3] in (0x7FFF0000, 0x00050001)
