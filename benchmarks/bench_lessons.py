"""Per-learner budget: each lesson's kernel, its peak memory and its run time on one core and two.

    .venv/bin/python benchmarks/bench_lessons.py                 # every lesson in notebooks/
    .venv/bin/python benchmarks/bench_lessons.py 00 01 03        # only lessons whose names start so
    .venv/bin/python benchmarks/bench_lessons.py --docs          # and write the table into docs/performance.md
    .venv/bin/python benchmarks/bench_lessons.py --json [FILE]   # and the figures as JSON (the teacher's guide)
    .venv/bin/python benchmarks/bench_lessons.py --cell-times    # and each cell's run time (2 cores) into
                                                                 # tests/cell_times.json, as lesson_stats --measure
    .venv/bin/python benchmarks/bench_lessons.py --quick         # a check that it runs: lesson 00 only

Each lesson runs top to bottom in a new kernel of the course ("cnn-course"), in notebooks/ as
nbval runs it (the lessons that train leave their weights for the later lessons: run them in
order), once with one core (``taskset -c 0``: the kernel and everything it starts may use core 0
only, so NumPy, OpenBLAS and helpers' engine all see one core) and once with two (``taskset -c
0,1``). A worker process (this script with --worker) runs the notebook with nbclient and samples,
every --interval seconds, the resident memory (RSS) of the kernel and of any process it started;
at the end it reads the kernel's own high-water mark (VmHWM in /proc, exact, not sampled). The
peak memory is the larger of the two. It is an upper bound of what a learner's kernel needs: RSS
counts shared libraries (NumPy, OpenBLAS, ...) in full, which several kernels on one server share.

Columns: the number of code cells; the peak memory (MiB), and whether it stays within the 2 GiB
budget (DESIGN.md; Binder's usual limit) -- a lesson over it is flagged "OVER"; the time its
cells take from the first to the last (wall clock, without the kernel's start) on one core and on
two; the kernel's CPU time (user + system, seconds) in the two-core run, which is what a lesson
costs a shared server whatever the number of cores; and any cell that raised.

The machine must be quiet for figures worth quoting: other processes on the cores slow the
lessons, the one-core runs most. The load average is printed at the start and the end.

--json [FILE] writes (and merges into FILE, keeping other lessons) {"lessons": {name: {...}}}:
one_core_s, two_core_s, peak_mib and more (without FILE: benchmarks/lessons.json, which
tools/teaching_tables.py reads for the teacher's guide). --cell-times [PATH] writes every code cell's run time of the
two-core run into PATH (default tests/cell_times.json) in tools/lesson_stats.py's format (cells
keyed by the SHA-1 of their source), keeping the other notebooks' entries. --docs [PATH] writes
the run (date, machine, command, table) between <!-- bench_lessons:begin --> and
<!-- bench_lessons:end --> of PATH (default docs/performance.md).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import report as docs_report  # benchmarks/report.py

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "cnn-course"
BUDGET = 2 * 1024 ** 3          # bytes: every lesson runs within 2 GiB (DESIGN.md)
MiB = 1024 ** 2
sys.path.insert(0, str(ROOT / "tools"))
import lesson_stats  # noqa: E402  (tools/lesson_stats.py: cell keys and the cell-times file)


# --- the worker: one notebook in one kernel, measured -------------------------------------

class Sampler(threading.Thread):
    """Samples the RSS of a process and its descendants every ``interval`` seconds; ``peak`` is
    the largest sum seen."""

    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        import psutil
        self.proc, self.interval, self.peak = psutil.Process(pid), interval, 0
        self.halt = threading.Event()

    def sample(self):
        import psutil
        total = 0
        for p in [self.proc] + self.proc.children(recursive=True):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)

    def run(self):
        while not self.halt.is_set():
            try:
                self.sample()
            except Exception:       # the kernel is gone: nothing more to sample
                return
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.join()


def run_notebook(path: Path, interval=0.05, timeout=1800) -> dict:
    """Run one notebook in a new kernel of the course, as nbval does (from its folder); return
    its figures (see the module docstring)."""
    import nbformat
    import psutil
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, allow_errors=True,
                            record_timing=True, resources={"metadata": {"path": str(path.parent)}})
    client.reset_execution_trackers()
    began = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.pid
        kernel = psutil.Process(pid)
        info = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = info["content"]["language_info"]
        sampler = Sampler(pid, interval)
        sampler.sample()
        start_rss = sampler.peak
        sampler.start()
        started = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        cells_seconds = time.perf_counter() - started
        sampler.stop()
        sampler.sample()
        hwm = docs_report.peak_rss_bytes(pid)
        cpu = kernel.cpu_times()
        cpu_seconds = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        affinity = sorted(kernel.cpu_affinity())
    cells, errors, messages = [], [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        seconds = lesson_stats.cell_seconds(cell)
        failed = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if failed:
            errors.append(index)
            # the line that raised: the last "---->" line of the traceback, without colours
            trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(failed[0].get("traceback", [])))
            where = [line.strip() for line in trace.splitlines() if line.lstrip().startswith("---->")]
            messages.append(f"cell {index}: {failed[0].get('ename')}: {failed[0].get('evalue')}"[:300]
                            + (f" at {where[-1][:200]}" if where else ""))
        cells.append({"cell": index, "sha1": lesson_stats.cell_key(cell.source),
                      "seconds": round(seconds, 2), "first_line": cell.source.strip().splitlines()[0][:60]})
    return {"notebook": path.name, "cores": affinity, "code_cells": len(cells),
            "cells_seconds": round(cells_seconds, 2),
            "total_seconds": round(time.perf_counter() - began, 2),
            "kernel_cpu_seconds": round(cpu_seconds, 2), "start_rss_bytes": start_rss,
            "sampled_peak_rss_bytes": sampler.peak, "kernel_hwm_bytes": hwm,
            "peak_rss_bytes": max(sampler.peak, hwm), "cells_with_errors": errors,
            "errors": messages, "cells": cells}


# --- the driver ------------------------------------------------------------------------------

def measure(path: Path, cores: str, interval: float) -> dict:
    """Run ``path`` in a worker process held to ``cores`` ("0" or "0,1") with taskset."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path), "--interval", str(interval)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cores] + cmd
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{path.name} on cores {cores} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def lessons(prefixes) -> list[Path]:
    return [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
            if not prefixes or p.name.startswith(tuple(prefixes))]


def table(results: dict, core_sets: list[str]) -> str:
    def label(c):
        return f"{len(c.split(','))} core{'s' if ',' in c else ''}"
    head = (["lesson", "code cells", "peak memory MiB", "within 2 GiB"]
            + [f"{label(c)} s" for c in core_sets] + ["kernel CPU s", "cells with errors"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, runs in results.items():
        peak = max(r["peak_rss_bytes"] for r in runs.values())
        cpu_run = runs[core_sets[-1]]
        errors = sorted({i for r in runs.values() for i in r["cells_with_errors"]})
        row = [name, str(cpu_run["code_cells"]), f"{peak / MiB:.0f}", "yes" if peak <= BUDGET else "**OVER**"]
        row += [f"{runs[c]['cells_seconds']:.1f}" for c in core_sets]
        row += [f"{cpu_run['kernel_cpu_seconds']:.1f}", ", ".join(map(str, errors)) or "none"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_cell_times(results: dict, core_set: str, path: Path) -> None:
    """Every code cell's run time (from the ``core_set`` runs) into ``path``, in the format of
    tools/lesson_stats.py --measure, keeping the other notebooks' entries."""
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    doc["about"] = ("Run time of each code cell, in seconds, measured by `python tools/lesson_stats.py "
                    "--measure`; cells are matched by the SHA-1 of their source.")
    book = doc.setdefault("notebooks", {})
    for name, runs in results.items():
        run = runs[core_set]
        book[name] = {"measured": run["measured"], "total_seconds": round(run["total_seconds"], 1),
                      "cells_with_errors": run["cells_with_errors"], "cells": run["cells"]}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


#: Where --json writes without a FILE: tools/teaching_tables.py reads it for the teacher's guide.
JSON_DEFAULT = ROOT / "benchmarks" / "lessons.json"


def write_json(results: dict, core_sets, path: Path, started: str, machine_line: str) -> None:
    """The figures into ``path`` (merged: other lessons' entries stay). Per lesson: one_core_s,
    two_core_s (the cells' wall time), peak_mib, and the same in bytes and seconds with details;
    at the top, the latest run's date, machine and command."""
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    doc.update({"about": "Per-lesson kernel budget from benchmarks/bench_lessons.py: peak memory "
                         "(RSS of the kernel and its children) and run time of the code cells "
                         "(wall clock, without the kernel's start) with one core and with two.",
                "budget_bytes": BUDGET, "measured": started, "machine": machine_line,
                "command": docs_report.command()})
    book = doc.setdefault("lessons", {})
    for name, runs in results.items():
        peak = max(r["peak_rss_bytes"] for r in runs.values())
        seconds = {len(c.split(",")): runs[c]["cells_seconds"] for c in core_sets}
        book[name] = {"measured": started, "machine": machine_line,
                      "one_core_s": seconds.get(1), "two_core_s": seconds.get(2),
                      "peak_mib": round(peak / MiB, 1), "peak_rss_bytes": peak,
                      "within_budget": peak <= BUDGET, "code_cells": runs[core_sets[-1]]["code_cells"],
                      "kernel_cpu_seconds": runs[core_sets[-1]]["kernel_cpu_seconds"],
                      "cells_with_errors": sorted({i for r in runs.values() for i in r["cells_with_errors"]})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def loadavg() -> str:
    a = os.getloadavg()
    return f"{a[0]:.2f} {a[1]:.2f} {a[2]:.2f}"


def main():
    if "--worker" in sys.argv:
        w = argparse.ArgumentParser()
        w.add_argument("--worker", type=Path, required=True)
        w.add_argument("--interval", type=float, default=0.05)
        a = w.parse_args()
        print(json.dumps(run_notebook(a.worker, a.interval)), flush=True)
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prefixes", nargs="*", help="only the lessons whose file names start with these")
    p.add_argument("--cores", default="0;0,1",
                   help="the core sets to run each lesson on, separated by ';' (default '0;0,1': "
                        "one core, then two)")
    p.add_argument("--interval", type=float, default=0.05, help="memory sampling interval, s")
    p.add_argument("--json", nargs="?", const=JSON_DEFAULT, type=Path, metavar="FILE",
                   help="write the figures as JSON into FILE, merged with the lessons it already holds "
                        f"(without FILE: {JSON_DEFAULT.relative_to(ROOT)}, which "
                        "tools/teaching_tables.py reads)")
    p.add_argument("--cell-times", nargs="?", const=lesson_stats.CELL_TIMES, type=Path, metavar="PATH",
                   help="write each cell's run time (the last core set's run) into PATH "
                        f"(default {lesson_stats.CELL_TIMES.relative_to(ROOT)})")
    args = docs_report.parse_args(p, "bench_lessons", "a check that it runs: lesson 00 only",
                                  dict(prefixes=["00"]))
    if args.quick and not args.prefixes:
        args.prefixes = ["00"]
    core_sets = [c.strip() for c in args.cores.split(";") if c.strip()]
    usable = os.sched_getaffinity(0)
    core_sets = [c for c in core_sets if {int(x) for x in c.split(",")} <= usable]
    if not core_sets:
        p.error(f"--cores: none of the core sets is usable here (cores {sorted(usable)})")
    paths = lessons(args.prefixes)
    if not paths:
        p.error(f"no lesson in {NOTEBOOKS} starts with {args.prefixes}")

    from helpers.perf import machine
    started, machine_line = docs_report.now(), machine()
    load_start = loadavg()
    print(machine_line)
    print(f"load average at start: {load_start} on {os.cpu_count()} cores; "
          f"core sets: {', '.join(core_sets)}", flush=True)
    results = {}
    for path in paths:
        runs = {}
        for cores in core_sets:
            run = measure(path, cores, args.interval)
            run["measured"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            runs[cores] = run
            print(f"{path.name:30s} cores {cores:4s} cells {run['cells_seconds']:7.1f} s  "
                  f"peak {run['peak_rss_bytes'] / MiB:6.0f} MiB (kernel at start "
                  f"{run['start_rss_bytes'] / MiB:.0f} MiB)  CPU {run['kernel_cpu_seconds']:6.1f} s"
                  + (f"  errors in cells {run['cells_with_errors']}" if run["cells_with_errors"] else ""),
                  flush=True)
            for message in run.get("errors", []):
                print(f"    {message}", flush=True)
        results[path.name] = runs
    load_end = loadavg()
    print(f"load average at end: {load_end}\n")
    text = table(results, core_sets)
    print(text)
    over = [name for name, runs in results.items()
            if max(r["peak_rss_bytes"] for r in runs.values()) > BUDGET]
    if over:
        print(f"\nOVER the 2 GiB budget: {', '.join(over)}")
    if args.json:
        write_json(results, core_sets, args.json, started, machine_line)
        print(f"figures written to {args.json}", file=sys.stderr)
    if args.cell_times:
        write_cell_times(results, core_sets[-1], args.cell_times)
        print(f"cell run times written to {args.cell_times}", file=sys.stderr)
    if args.docs is not None:
        notes = (f"Load average at start: {load_start}; at end: {load_end} ({os.cpu_count()} cores). "
                 "Peak memory: RSS of the kernel and its children (sampled every "
                 f"{args.interval:g} s) or the kernel's VmHWM, whichever is larger, over all runs. "
                 "Times: the code cells, first to last, wall clock, without the kernel's start; "
                 "kernel CPU: user + system seconds of the last run.")
        docs_report.write_section("bench_lessons", docs_report.run_markdown(
            started, machine_line, text + "\n\n" + notes), args.docs)
        print(f"written to {args.docs}", file=sys.stderr)
    return 1 if any(r["cells_with_errors"] for runs in results.values() for r in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
