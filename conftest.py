"""Test order and, with several workers, who runs what.

One process (``pytest``, or ``course.py test`` on one core): the unit tests, then every notebook
(nbval), then the unit tests marked ``after_notebooks`` (they use lesson 12's trained weights,
which lesson 12 saves: run earlier on a fresh clone, they would train the network a second time),
then the browser tests, which also reuse what the notebooks left behind.

Several workers (``course.py test`` starts one per core with pytest-xdist): each notebook, each
test file and each browser test is one unit of work, never split. ``Schedule`` hands
out the longest units first (``expected_seconds``), and a unit that needs another (``NEEDS``)
only after that one has finished, or to the worker that runs it (a worker runs its units in
order). Each worker, and every kernel and server it starts, keeps to one BLAS thread and one
engine thread: two workers on two cores then use each core once, and two cores barely speed up
one lesson's training anyway (docs/performance.md).

nbval 0.11 waits at most 5 s (``output_timeout``, fixed in its code, no command-line option)
for each output message of a cell after the kernel has replied that the cell is done. On a slow
phase of a shared machine that wait was once too short after lesson 08's 40 s training cell
("Timeout of 5 seconds exceeded waiting for output", the weights already saved), so every
notebook cell gets ``OUTPUT_TIMEOUT`` instead. A cell that really hangs is still stopped by
``--nbval-cell-timeout`` (pyproject.toml)."""
import json
import os
from pathlib import Path

import pytest

OUTPUT_TIMEOUT = 60
ROOT = Path(__file__).resolve().parent
CELL_TIMES = ROOT / "tests" / "cell_times.json"

#: unit of work -> the units that must have finished before it starts (when they are collected).
#: Lesson 12 saves the network that 14, 15 and test_preprocess's after_notebooks test load, and
#: the browser tests open 14 and 15 in JupyterLab.
NEEDS = {
    "notebooks/14_visualizing.ipynb": ["notebooks/12_training.ipynb"],
    "notebooks/15_your_own_input.ipynb": ["notebooks/12_training.ipynb"],
    "tests/test_preprocess.py": ["notebooks/12_training.ipynb"],
    "tests/browser/test_lessons_in_jupyterlab.py::test_feature_maps_and_saliency_explorers":
        ["notebooks/14_visualizing.ipynb"],
    "tests/browser/test_own_input.py::test_draw_clear_draw_again_and_upload": ["notebooks/15_your_own_input.ipynb"],
}
#: rough run times of the units that are not notebooks (a notebook's come from cell_times.json;
#: a browser test takes 10 to 40 s, most of it JupyterLab opening and running its lesson)
SECONDS = {"tests/test_jupyterhub.py": 40, "tests/test_fuzz_checkers.py": 25, "tests/test_fuzz_helpers.py": 25}
BROWSER_SECONDS = 30

if os.environ.get("PYTEST_XDIST_WORKER"):        # set by pytest-xdist before this file is read
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")         # also read by helpers.fast.threads: one engine thread


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: a notebook, a test file, or one browser test (each
    opens its own lesson, and they are the longest tests)."""
    path, _, name = nodeid.replace("\\", "/").partition("::")
    return f"{path}::{name.split('[')[0]}" if path.startswith("tests/browser/") else path


def expected_seconds(unit: str, cell_times: dict) -> float:
    """A unit's rough run time; cell_times: the "notebooks" part of tests/cell_times.json."""
    if unit.startswith("notebooks/"):
        return cell_times.get(unit.split("/", 1)[1], {}).get("total_seconds", 30.0)
    return BROWSER_SECONDS if unit.startswith("tests/browser/") else SECONDS.get(unit, 2.0)


def pytest_collection_modifyitems(session, config, items):
    def phase(item):
        if "tests/browser/" in item.nodeid.replace("\\", "/"):
            return 3
        if item.get_closest_marker("after_notebooks"):
            return 2
        return 1 if hasattr(item, "output_timeout") else 0     # nbval cells have output_timeout
    items.sort(key=phase)
    for item in items:
        if hasattr(item, "output_timeout"):      # an nbval cell
            item.output_timeout = max(item.output_timeout, OUTPUT_TIMEOUT)
        if item.get_closest_marker("after_notebooks") and unit_of(item.nodeid) not in NEEDS:
            raise pytest.UsageError(f"{item.nodeid} is marked after_notebooks: conftest.NEEDS must "
                                    f"say which notebook {unit_of(item.nodeid)} waits for")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") not in ("load", "loadscope", "loadfile"):
        return None                              # --dist each, loadgroup, worksteal: as asked
    return make_schedule(config, log)


def make_schedule(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Schedule(LoadScopeScheduling):
        """LoadScopeScheduling with our units, longest first, and NEEDS respected."""

        def _split_scope(self, nodeid):
            return unit_of(nodeid)

        def _done(self, unit):
            return any(unit in work and all(work[unit].values()) for work in self.assigned_work.values())

        def _ready(self, unit, node):
            return all(need in self.assigned_work[node] or self._done(need) for need in self.needs[unit])

        def schedule(self):
            assert self.collection_is_completed
            if self.collection is None:
                if not self._check_nodes_have_same_collection():
                    self.log("**Different tests collected, aborting run**")
                    return
                self.collection = list(next(iter(self.registered_collections.values())))
                if not self.collection:
                    return
                units = {}
                for nodeid in self.collection:
                    units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
                self.needs = {u: [n for n in NEEDS.get(u, ()) if n in units] for u in units}
                times = json.loads(CELL_TIMES.read_text(encoding="utf-8"))["notebooks"]
                for unit in sorted(units, key=lambda u: -expected_seconds(u, times)):
                    self.workqueue[unit] = units[unit]
            for node in self.nodes:
                self._reschedule(node)

        def _reschedule(self, node):
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            # a worker keeps its last test back until it gets more work (it needs the next
            # test for the teardown), so more comes when at most 2 are left, as in xdist
            if self._pending_of(self.assigned_work[node]) > 2:
                return
            unit = next((u for u in self.workqueue if self._ready(u, node)), None)
            if unit is None:
                return                  # everything left waits for a unit another worker runs
            work = self.workqueue.pop(unit)
            self.assigned_work[node][unit] = work
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work.items() if not done])

        def mark_test_complete(self, node, item_index, duration=0):
            nodeid = self.registered_collections[node][item_index]
            self.assigned_work[node][self._split_scope(nodeid)][nodeid] = True
            for other in self.nodes:          # a finished unit may let another worker go on
                self._reschedule(other)

    return Schedule(config, log)
