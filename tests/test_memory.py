"""helpers.memory: freed memory is kept for reuse, so a training step causes no page faults."""
import os
import subprocess
import sys
import textwrap

import pytest

from helpers import memory

CHECK = textwrap.dedent("""
    import resource, numpy as np
    {setup}
    def step():            # what a training step does: several arrays of a few MB, then freed
        arrays = [np.ones((32, 16, 28, 28), np.float32) for _ in range(5)]   # 1.6 MB each
        return sum(float(a[0, 0, 0, 0]) for a in arrays)
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _page_faults(setup):
    out = subprocess.run([sys.executable, "-c", CHECK.format(setup=setup)], check=True,
                         capture_output=True, text=True, env={**os.environ, "HELPERS_MALLOC": "default"})
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_keeping_freed_memory_removes_the_page_faults_of_each_step():
    default = _page_faults("")
    kept = _page_faults("import os; from helpers import memory\n"
                        "assert memory._done is False             # left alone on import\n"
                        "os.environ.pop('HELPERS_MALLOC'); memory._done = None\n"
                        "assert memory.keep_freed_memory()")
    assert default > 20 * 1000          # ~2,000 faults a step: 8 MB given back, asked again
    assert kept < 20 * 10


def test_default_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setattr(memory, "_done", None)
    monkeypatch.setenv("HELPERS_MALLOC", "default")
    assert memory.keep_freed_memory() is False
    monkeypatch.setattr(memory, "_done", None)
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    monkeypatch.delenv("HELPERS_MALLOC")
    assert memory.keep_freed_memory() is False
