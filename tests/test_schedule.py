"""conftest.py's schedule for several test workers, run against simulated workers: every test
runs once, a notebook or test file stays on one worker in its order, the longest units start
first, and a unit that needs another never starts on a second worker before that one is done."""
import random

import pytest

from load import ROOT, module_from_path

pytest.importorskip("xdist")

conftest = module_from_path("root_conftest_schedule", "conftest.py")


class Config:
    def __init__(self, workers):
        self.values = {"tx": [f"{workers}*popen"], "dist": "load"}

    def getvalue(self, name):
        return self.values[name]


class Worker:
    """A pytest-xdist worker as the scheduler sees it: it gets test indexes, and like the real
    one it keeps its last test back until more work or the shutdown arrives."""

    def __init__(self, name):
        self.name, self.queue, self.shutting_down, self.ran = name, [], False, []
        self.gateway = type("Gateway", (), {"id": name})()

    def send_runtest_some(self, indexes):
        self.queue += indexes

    def shutdown(self):
        self.shutting_down = True

    def runnable(self):
        return len(self.queue) > 1 or (self.queue and self.shutting_down)

    def __repr__(self):
        return self.name


COLLECTION = (
    [f"tests/test_conv.py::test_{i}" for i in range(5)]
    + [f"tests/test_layers.py::test_{i}" for i in range(3)]
    + [f"tests/test_preprocess.py::test_{i}" for i in range(4)]
    + [f"notebooks/{nb}::Cell {i}" for nb in ("00_welcome.ipynb", "12_training.ipynb", "13_regularisation.ipynb",
                                              "14_visualizing.ipynb", "15_your_own_input.ipynb",
                                              "18_transfer_learning.ipynb") for i in range(6)]
    + ["tests/browser/test_lessons_in_jupyterlab.py::test_welcome_slider_updates_its_label",
       "tests/browser/test_lessons_in_jupyterlab.py::test_feature_maps_and_saliency_explorers",
       "tests/browser/test_own_input.py::test_draw_clear_draw_again_and_upload"]
)


def simulate(workers, collection, seed):
    """Run the schedule until every worker is shut down; the worker that moves next is drawn at
    random. Returns (the tests each worker ran, in order; each unit's start and end step)."""
    sched = conftest.make_schedule(Config(workers), None)
    nodes = [Worker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    rng, step, started, finished = random.Random(seed), 0, {}, {}
    while not all(n.shutting_down and not n.queue for n in nodes):
        ready = [n for n in nodes if n.runnable()]
        assert ready, f"the schedule stalls: {[(n, n.queue, n.shutting_down) for n in nodes]}"
        node = rng.choice(ready)
        index = node.queue.pop(0)
        unit = conftest.unit_of(collection[index])
        started.setdefault(unit, (step, node))
        node.ran.append(collection[index])
        sched.mark_test_complete(node, index)
        if all(t in {x for n in nodes for x in n.ran} for t in collection if conftest.unit_of(t) == unit):
            finished[unit] = step
        step += 1
    return {n.name: n.ran for n in nodes}, started, finished


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("seed", range(20))
def test_every_test_runs_once_units_stay_whole_and_needs_are_kept(workers, seed):
    ran, started, finished = simulate(workers, COLLECTION, seed)
    assert sorted(t for tests in ran.values() for t in tests) == sorted(COLLECTION)
    for tests in ran.values():
        for unit in {conftest.unit_of(t) for t in tests}:
            mine = [t for t in tests if conftest.unit_of(t) == unit]
            assert mine == [t for t in COLLECTION if conftest.unit_of(t) == unit], "a unit was split or reordered"
    for unit, needs in conftest.NEEDS.items():
        if unit not in started:
            continue
        for need in needs:
            step, node = started[unit]
            on_same_worker = any(unit in {conftest.unit_of(t) for t in ran[w]}
                                 and need in {conftest.unit_of(t) for t in ran[w]} for w in ran)
            assert finished[need] < step or on_same_worker, f"{unit} started before {need} finished"


def test_the_longest_units_start_first():
    ran, started, _ = simulate(2, COLLECTION, seed=0)
    first = sorted(started, key=lambda u: started[u][0])[:2]
    assert set(first) == {"notebooks/12_training.ipynb", "notebooks/18_transfer_learning.ipynb"}


def test_needs_name_units_that_exist():
    units = {conftest.unit_of(f"{p.relative_to(ROOT)}::x") for p in (ROOT / "notebooks").glob("*.ipynb")}
    units |= {f"{p.relative_to(ROOT)}" for p in (ROOT / "tests").glob("test_*.py")}
    browser = (ROOT / "tests" / "browser")
    units |= {f"{p.relative_to(ROOT)}::{line.split('(')[0][4:]}" for p in browser.glob("test_*.py")
              for line in p.read_text(encoding="utf-8").splitlines() if line.startswith("def test_")}
    for unit, needs in conftest.NEEDS.items():
        assert unit in units, f"conftest.NEEDS names {unit}, which does not exist"
        assert set(needs) <= units, f"conftest.NEEDS: {unit} needs {needs}, not all exist"


def test_a_worker_runs_one_blas_and_one_engine_thread():
    import os
    import sys
    import subprocess
    code = "import os, helpers.fast.threads as t; print(os.environ['OPENBLAS_NUM_THREADS'], t.THREADS)"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTEST_XDIST_WORKER"] = "gw0"
    out = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(ROOT / 'conftest.py')!r}); {code}"],
                         env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["1", "1"]


def test_course_test_starts_one_worker_per_core_unless_told_otherwise(monkeypatch):
    course = module_from_path("course_cli", "course.py")
    for cores, args, expected in (
            (2, [], ["-n", "2"]), (8, ["tests/test_conv.py", "-x"], ["-n", "4"]), (1, [], []),
            (2, ["-n", "0"], []), (2, ["-n3"], []), (2, ["--numprocesses=3"], []), (2, ["-p", "no:xdist"], []),
            (2, ["--pdb"], []), (2, ["--trace"], []), (2, ["--dist=each"], [])):
        monkeypatch.setattr(course.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert course.test_workers(args) == expected, (cores, args)
