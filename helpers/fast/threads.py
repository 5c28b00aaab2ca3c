"""The engine's second thread: half of a large call's images run there (README, ideas 4, 8, 9).

Nothing starts on import. The first large call starts one worker thread, named
``helpers.fast-0``; later calls reuse it, and it is shut down when the interpreter exits (or by
``shutdown()``). While both threads work, the BLAS is held to one thread per call
(``threadpoolctl``), and the two threads are held on two different cores for the call.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["THREADS", "PIN_THREADS", "usable_cores", "thread_count", "one_blas_thread",
           "share_images", "shutdown"]


def usable_cores():
    """How many cores this process may run on (its CPU affinity where the system has one)."""
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)


def thread_count():
    """2, or fewer when the process may use fewer cores or asked the BLAS for fewer threads
    (OPENBLAS_NUM_THREADS or OMP_NUM_THREADS set to 1, as the benchmarks' --threads 1 does)."""
    cores = usable_cores()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            cores = min(cores, int(value))
    return min(2, cores)


THREADS = thread_count()        # set it to 1 to run the engine in the calling thread only
PIN_THREADS = True              # hold a shared call's two threads on two cores (idea 9)

_state = {"pool": None, "tid": None, "blas": None, "hooks": False}
_lock = threading.Lock()        # one shared call at a time; others run in their own thread


def _blas():
    """threadpoolctl's handle on the BLAS libraries, made once; False without threadpoolctl
    (then the engine runs in one thread: the BLAS threads and ours would compete)."""
    if _state["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["blas"] = False
        else:
            _state["blas"] = ThreadpoolController().select(user_api="blas")
    return _state["blas"]


def one_blas_thread():
    """A context manager that holds the BLAS to one thread while the engine uses two
    (``THREADS``), e.g. around ``helpers.train.fit``'s epochs (idea 6); else it does nothing.

    >>> with one_blas_thread():
    ...     pass
    """
    blas = _blas() if THREADS > 1 else False
    return blas.limit(limits=1) if blas else contextlib.nullcontext()


def _pool():
    """The worker thread's pool, started on first use; (pool, the worker's native thread id)."""
    if _state["pool"] is None:
        if not _state["hooks"]:
            _state["hooks"] = True
            atexit.register(shutdown)
            if hasattr(os, "register_at_fork"):     # a forked child has no worker: start anew
                os.register_at_fork(after_in_child=lambda: _state.update(pool=None, tid=None))
        pool = ThreadPoolExecutor(1, thread_name_prefix="helpers.fast")
        _state["tid"] = pool.submit(threading.get_native_id).result()
        _state["pool"] = pool
    return _state["pool"], _state["tid"]


def shutdown():
    """Stop the worker thread (it starts again on the next large call)."""
    pool, _state["pool"], _state["tid"] = _state["pool"], None, None
    if pool is not None:
        pool.shutdown(wait=True)


def share_images(work, n, half=None):
    """Run ``work(lo, hi)`` over the images [0, n) and return its results as a list.

    With two threads (``THREADS``): work(0, half) here and work(half, n) in the worker thread,
    each on a core of its own for the call; else work(0, n) here. half: where the worker
    starts, by default n // 2. work must write only to its own images' part of a result.
    While one call shares, calls from other threads run in their own thread.
    """
    half = n // 2 if half is None else half
    if (THREADS < 2 or not 0 < half < n or not _blas()
            or not _lock.acquire(blocking=False)):
        return [work(0, n)]
    try:
        pool, tid = _pool()
        with _blas().limit(limits=1), _apart(tid):
            other = pool.submit(work, half, n)
            try:
                mine = work(0, half)
            finally:
                theirs = other.result()         # wait for it even when this half failed
        return [mine, theirs]
    finally:
        _lock.release()


@functools.cache
def _sched_getcpu():
    """glibc's sched_getcpu (the core a thread runs on now), looked up once; None elsewhere."""
    try:
        return ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError, TypeError):   # not glibc
        return None


def _this_cpu(cores):
    """The core this thread runs on now, or (without sched_getcpu) the first of ``cores``."""
    getcpu = _sched_getcpu()
    cpu = getcpu() if getcpu else -1
    return cpu if cpu in cores else min(cores)


@contextlib.contextmanager
def _apart(tid):
    """Hold this thread and the worker ``tid`` on two different cores for one shared call,
    then give both back the cores they had (idea 9). Does nothing where the system cannot (no
    ``os.sched_setaffinity``), with fewer than two cores, or when ``PIN_THREADS`` is off."""
    try:
        cores = os.sched_getaffinity(0) if PIN_THREADS else ()
    except (AttributeError, OSError):
        cores = ()
    if len(cores) < 2:
        yield
        return
    here = _this_cpu(cores)
    pinned = []
    try:
        for who, cpu in ((tid, min(cores - {here})), (0, here)):    # 0: this thread
            os.sched_setaffinity(who, {cpu})
            pinned.append(who)
    except OSError:                        # e.g. a policy that forbids it: run unpinned
        pass
    try:
        yield
    finally:
        for who in pinned:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(who, cores)
