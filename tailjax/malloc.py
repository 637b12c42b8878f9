"""glibc malloc settings for the two host-memory patterns tailjax has.

Both do nothing where libc is not glibc, and must run before JAX and tensorstore start their
threads (a thread that has made its own heap keeps it; tunables are read at process start).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

M_ARENA_MAX = -8  # a mallopt parameter (glibc's malloc.h)
HUGE_PAGES = "glibc.malloc.hugetlb=1"


def one_arena() -> None:
    """One heap for all threads, so what one thread frees another reuses.

    For a conversion: with a heap per thread, `--from-hf` kept ~0.5x the weights of buffers that
    orbax's writer threads had freed resident (peak 1.5x the weights); with one heap, ~1.2x.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def restart_with_huge_pages() -> None:
    """Re-run this process's command line with glibc's malloc on transparent huge pages
    (GLIBC_TUNABLES glibc.malloc.hugetlb=1), unless it already is or cannot be.

    For CPU training: XLA:CPU allocates each step's temporaries afresh (one block per device,
    1.5 GB each in the 32 x 512 benchmark), and glibc maps every block over 32 MiB anew and
    unmaps it when freed, so each step page-faults its activations in again, 4 KiB at a time.
    On this project's 2-core VM that was ~1.5 s of kernel time in a 5.5 s step; with huge pages
    a step faults 2 MiB at a time and took 4.1-4.3 s. The tunable is read only at process
    start, hence the re-exec (same pid, same arguments, before JAX has started). Keeping freed
    memory instead (mallopt: no mmap, no trim, one arena) was faster on some steps but
    fragmented the heap, which grew by 1.5 GB every few steps.
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables or not _huge_pages_help():
        return
    env = dict(os.environ, GLIBC_TUNABLES=":".join(filter(None, [tunables, HUGE_PAGES])))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def _huge_pages_help() -> bool:
    """glibc >= 2.35 (which has the tunable) and a kernel whose transparent huge pages honour
    madvise."""
    libc, version = platform.libc_ver()
    if libc != "glibc" or tuple(int(v) for v in version.split(".")[:2]) < (2, 35):
        return False
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False
