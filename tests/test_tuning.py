"""Importing helpers changes nothing; helpers.fast.tuning changes the process only inside its
``with`` block, and undoes what it can."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from helpers.fast import tuning

STEP = textwrap.dedent("""
    import resource, numpy as np
    def step():            # what a training step does: several arrays of a few MB, then freed
        arrays = [np.ones((32, 16, 28, 28), np.float32) for _ in range(5)]   # 1.6 MB each
        return sum(float(a[0, 0, 0, 0]) for a in arrays)
    def faults(steps=20):
        for _ in range(3):
            step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(steps):
            step()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
""")


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", STEP + textwrap.dedent(code)], check=True,
                         capture_output=True, text=True, env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_every_module_of_helpers_changes_nothing():
    got = _run("""
        import importlib, json, os, pkgutil, threading
        from threadpoolctl import threadpool_info
        def state():
            return {"threads": threading.active_count(),
                     "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
                     "blas": [i["num_threads"] for i in threadpool_info()]}
        before = state()
        import helpers
        names = [m.name for m in pkgutil.walk_packages(helpers.__path__, "helpers.")]
        for name in names:
            importlib.import_module(name)
        print(json.dumps({"before": before, "after": state(), "modules": len(names),
                          "faults": faults()}))
    """)
    assert got["modules"] >= 20                      # every module was imported
    assert got["after"] == got["before"]            # no thread, no pinning, no BLAS limit
    # and the allocator is glibc's own: freed blocks of a few MB go back to the system
    if sys.platform.startswith("linux"):
        assert got["faults"] > 20 * 1000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_keep_freed_memory_removes_the_page_faults_of_each_step_then_gives_it_back():
    got = _run("""
        import json
        from helpers.fast import tuning
        default = faults()
        with tuning.keep_freed_memory() as applied:
            kept = faults()
        after = faults()
        print(json.dumps({"applied": applied, "default": default, "kept": kept, "after": after}))
    """)
    assert got["applied"] is True
    assert got["default"] > 20 * 1000          # ~2,000 faults a step: 8 MB given back, asked again
    assert got["kept"] < 20 * 10
    assert got["after"] > 20 * 1000            # undone: glibc gives the memory back again


def test_helpers_malloc_default_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setenv("HELPERS_MALLOC", "default")
    with tuning.keep_freed_memory() as applied:
        assert applied is False
    monkeypatch.delenv("HELPERS_MALLOC")
    monkeypatch.setattr(tuning, "_libc", lambda: None)           # macOS, Windows, musl
    with tuning.keep_freed_memory() as applied:
        assert applied is False


def test_for_training_can_be_turned_off(monkeypatch):
    calls = []
    monkeypatch.setattr(tuning, "keep_freed_memory", lambda: calls.append("memory") or
                        __import__("contextlib").nullcontext())
    with tuning.for_training(enabled=False):
        pass
    assert calls == []
    with tuning.for_training():
        pass
    assert calls == ["memory"]


def test_the_worker_thread_is_named_reused_and_shut_down():
    got = _run("""
        import json, threading
        import numpy as np
        from helpers import fast
        from helpers.fast import threads
        threads.THREADS = 2
        x = np.ones((64, 8, 28, 28), np.float32)
        w = np.ones((16, 8, 3, 3), np.float32)
        names = []
        for _ in range(3):
            fast.conv2d(x, w)
            names.append(sorted(t.name for t in threading.enumerate()))
        threads.shutdown()
        print(json.dumps({"names": names, "left": threading.active_count()}))
    """)
    assert got["names"][0] == got["names"][1] == got["names"][2]          # reused, not new
    assert [n for n in got["names"][0] if n != "MainThread"] == ["helpers.fast_0"]
    assert got["left"] == 1
