"""Keep freed memory for reuse: a one-time setting of the C allocator (glibc on Linux).

Every layer of a network allocates new arrays at every step: outputs, gradients, im2col
matrices, a few MB each. By default glibc gives memory of that size back to the operating
system as soon as NumPy frees it (its "trim" and "mmap" thresholds adapt to a few MB only),
so the next step asks for it again and the kernel has to hand over, and zero, every 4 KiB page
once more: a page fault each, thousands per training step. Measured on the course's
2-core reference machine: about 1,700 page faults per training step of the benchmark CNN and
12-15 % of its time (benchmarks/bench_train.py); with the setting below, none.

``keep_freed_memory()`` raises both thresholds, so freed memory stays in the process and is
reused (as PyTorch's CPU allocator does on its own). The cost: the process keeps the memory
of its largest step until it ends. ``helpers`` calls it once on import; set the environment
variable ``HELPERS_MALLOC=default`` before starting Python to leave the allocator alone. On
other systems (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory"]

# glibc's mallopt() parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 1 << 30        # give memory back only when 1 GiB lies free at the top of the heap
MMAP_BYTES = 32 << 20       # blocks up to 32 MiB (glibc's maximum) come from the reusable heap

_done = None


def keep_freed_memory():
    """Ask glibc to keep freed memory for reuse. Returns True if the setting was applied,
    False where it does not apply (not glibc, or HELPERS_MALLOC=default). Safe to call twice."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("HELPERS_MALLOC", "").lower() == "default" or not sys.platform.startswith(
            "linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):        # not glibc (musl has no mallopt)
        return _done
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                          TRIM_BYTES))
    return _done
