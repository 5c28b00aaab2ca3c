"""Tuning the process for training, only when asked: ``for_training()`` (``helpers.train.fit``
uses it unless given ``tune=False``). Nothing here runs on import.

Two settings, both for the time of the ``with`` block:

* the BLAS is held to one thread (``threads.one_blas_thread``, README idea 6): the engine's own
  second thread then has the second core to itself; undone at the end of the block;
* the C allocator keeps freed memory for reuse (glibc on Linux, README idea 10). Every layer
  allocates new arrays of a few MB at every step; by default glibc hands memory of that size
  back to the operating system when NumPy frees it, so the next step asks for it again and
  the kernel has to hand over, and zero, every 4 KiB page once more: a page fault each,
  thousands per training step. Raising glibc's two thresholds (``mallopt``) keeps that memory
  in the process. At the end of the block the thresholds go back to glibc's starting values
  and the kept memory is given back (``malloc_trim``); glibc's own adjustment of the mmap
  threshold stays off for the process, as ``mallopt`` cannot switch it back on.

Set the environment variable ``HELPERS_MALLOC=default`` to leave the allocator alone always.
On other systems (macOS, Windows, musl) the allocator part does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys

from helpers.fast import threads

__all__ = ["for_training", "keep_freed_memory"]

# glibc's mallopt() parameters (malloc.h) and its starting values
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
GLIBC_DEFAULT_BYTES = 128 << 10
TRIM_BYTES = 1 << 30        # give memory back only when 1 GiB lies free at the top of the heap
MMAP_BYTES = 32 << 20       # blocks up to 32 MiB (glibc's maximum) come from the reusable heap


@functools.cache
def _libc():
    """glibc, or None where the setting does not apply (another C library or system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):        # not glibc (musl has no mallopt)
        return None
    return libc


def _set_thresholds(libc, mmap_bytes, trim_bytes):
    return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_bytes)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, trim_bytes))


@contextlib.contextmanager
def keep_freed_memory():
    """Within the block, glibc keeps freed memory for reuse; after it, the thresholds go back
    to glibc's starting values and the kept memory is given back. Yields True where the
    setting applied, False where it does not (not glibc, or HELPERS_MALLOC=default)."""
    libc = None if os.environ.get("HELPERS_MALLOC", "").lower() == "default" else _libc()
    applied = bool(libc) and _set_thresholds(libc, MMAP_BYTES, TRIM_BYTES)
    try:
        yield applied
    finally:
        if applied:
            _set_thresholds(libc, GLIBC_DEFAULT_BYTES, GLIBC_DEFAULT_BYTES)
            libc.malloc_trim(0)


@contextlib.contextmanager
def for_training(enabled=True):
    """Tune the process for a training loop while the block runs (BLAS held to one thread,
    freed memory kept); with enabled=False, change nothing."""
    if not enabled:
        yield
        return
    with threads.one_blas_thread(), keep_freed_memory():
        yield
