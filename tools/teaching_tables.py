"""Write the measured figures of the teacher's guide (docs/teaching.md) from the measurement files.

    python tools/teaching_tables.py            # rewrite the measured blocks of docs/teaching.md
    python tools/teaching_tables.py --check    # exit 1 if the guide differs from what this writes
    python tools/teaching_tables.py --print    # print the blocks instead of writing them

This tool is the only way a time or a memory figure gets into the guide. Run it after every new
measurement (benchmarks/bench_lessons.py --json --cell-times, or tools/lesson_stats.py --measure)
and after a lesson changes. The guide holds four kinds of block, each between two marker
comments; the tool replaces what is between the markers and leaves the rest of the guide alone:

    <!-- lesson-times:start --> ... <!-- lesson-times:end -->      the table of all lessons
    <!-- term-plan:start --> ... <!-- term-plan:end -->            the lessons packed into classes
    <!-- time:NN:start --> ... <!-- time:NN:end -->                 one line in lesson NN's section
    <!-- class-sizing:start --> ... <!-- class-sizing:end -->      what a class needs

Where the figures come from:
  time to teach
            the course's estimate of the time to work through the lesson (tools/lesson_stats.py:
            words at 150 a minute, a minute a code cell or its run time, 5 an exercise, 3 an
            explorer), rounded to whole minutes.
  its cells, 2-core machine
            the sum of the lesson's code-cell run times in tests/cell_times.json, written by
            `benchmarks/bench_lessons.py --cell-times` or `tools/lesson_stats.py --measure`. A cell
            is matched by the SHA-1 of its source; a cell edited since the measurement is not
            counted, and the guide says how many cells were measured.
  1 core, 2 cores, peak memory, CPU time
            from benchmarks/lessons.json, which `benchmarks/bench_lessons.py --json` writes (each
            lesson run with one core and with two, the peak memory of its kernel, and the kernel's
            CPU time in the two-core run). Without that file those columns say "not measured". A
            lesson whose number of code cells differs from the measured one, or whose cells are not
            all in tests/cell_times.json, changed after the measurement: the guide marks it.

What a class of N learners needs (issue 28), for each N in CLASS_SIZES, each learner with a
kernel of their own:
  CPU work a learner
            the kernel's CPU time for the lesson (bench_lessons.py's kernel_cpu_seconds); without
            it, the time on one core; without that, the time on the 2-core machine (marked).
  cores at own pace
            N x (CPU work) / (the time to teach): what keeps up when the learners run the cells
            spread over the lesson.
  cores to end a Run All within MAX_WAIT_MINUTES
            N x (CPU work) / MAX_WAIT_MINUTES: every learner presses Run All at the same moment.
  cores in all
            the most cores any lesson needs at own pace, and the most any lesson *without a long
            run* needs to end a Run All within MAX_WAIT_MINUTES (at least 1). A long run is a
            lesson whose CPU work is over LONG_RUN_S.
  a Run All by all N
            N x (CPU work) / (cores in all), and never less than the lesson's 2-core time.
  memory    every learner may reach the largest kernel peak of any lesson at the same moment
            (the whole class training in lesson 12, say): that peak, rounded up to
            MEMORY_STEP_MIB, times N. The guarantee and limit of deploy/jupyterhub/values.yaml
            are shown next to it, and checked against the peak.
  one server or Kubernetes
            up to SINGLE_SERVER_USERS learners: one server (The Littlest JupyterHub describes
            itself as for 1-100 users on a single server); more: Kubernetes with Zero to
            JupyterHub.
MAX_WAIT_MINUTES and SINGLE_SERVER_USERS are choices, not measurements; the guide says so.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMES = ROOT / "tests" / "cell_times.json"
BENCH = ROOT / "benchmarks" / "lessons.json"
BENCH_SCRIPT = "benchmarks/bench_lessons.py"
VALUES = ROOT / "deploy" / "jupyterhub" / "values.yaml"

CLASS_SIZES = (30, 200)
CLASS_LENGTHS = (50, 90)      # minutes of a class: the two plans the guide gives
MAX_WAIT_MINUTES = 5          # a choice: the longest a learner should wait for a Run All
SINGLE_SERVER_USERS = 100     # The Littlest JupyterHub: "for 1-100 users on a single server"
MEMORY_STEP_MIB = 256         # a learner's memory: the largest peak rounded up to this step
DESIGN_LIMIT_MIB = 2048       # DESIGN.md: every notebook within 2 GiB (Binder's usual limit)
SHOW_LESSONS = 6              # the sizing tables show the lessons with the most CPU work


def _load_lesson_stats():
    spec = importlib.util.spec_from_file_location("lesson_stats", ROOT / "tools" / "lesson_stats.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while made
    spec.loader.exec_module(module)
    return sys.modules[spec.name]


stats_tool = _load_lesson_stats()
# A long run: more CPU work than this. The course's estimate counts a code cell as one minute
# unless it runs longer (tools/lesson_stats.py); a cell over it is one to start early.
LONG_RUN_S = 60 * stats_tool.MINUTES_PER_CODE_CELL


# --- reading the files -----------------------------------------------------------------------

@dataclass
class Lesson:
    number: str               # "03"
    name: str                 # "03_padding_stride.ipynb"
    title: str                # "Padding, stride and dilation"
    teach: int                # minutes, the course's estimate
    code_cells: int
    laptop_s: float | None    # the sum of its measured cells (tests/cell_times.json)
    laptop_cells: int         # how many cells that sum covers
    laptop_date: str | None
    one_core_s: float | None = None
    two_core_s: float | None = None
    peak_mib: float | None = None
    cpu_s: float | None = None          # the kernel's CPU time (bench_lessons.py)
    bench_date: str | None = None
    stale: bool = False                 # the lesson changed after bench_lessons.py measured it
    long_cells: tuple = ()              # (first line, seconds) of each measured cell over LONG_RUN_S

    @property
    def work(self) -> tuple[float | None, str]:
        """The CPU work of one learner's kernel for the lesson, and where it comes from."""
        if self.cpu_s is not None:
            return self.cpu_s, "CPU time"
        if self.one_core_s is not None:
            return self.one_core_s, "1 core"
        if self.laptop_s is not None and self.laptop_cells == self.code_cells:
            return self.laptop_s, "2-core machine"
        return None, ""


def lesson_title(nb) -> str:
    """A lesson's title: its first heading without the number and the Korean, up to a colon."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"(?m)^#\s+(.+)$", stats_tool.source(cell))
            if m:
                title = re.sub(r"^\d+\s*[·.:-]\s*", "", m.group(1)).strip()
                title = re.sub(r"\s*\([^)]*[\uac00-\ud7a3][^)]*\)\s*$", "", title)
                return title.split(":")[0].strip()
    return ""


def load_cell_times(path=CELL_TIMES) -> dict:
    """{notebook: {"date": str, "cells": {sha1: seconds}}} from tests/cell_times.json."""
    path = Path(path)
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {name: {"date": entry.get("measured"), "cells": {c["sha1"]: c["seconds"] for c in entry["cells"]}}
            for name, entry in doc.get("notebooks", {}).items()}


def load_bench(path=BENCH) -> dict:
    """benchmarks/lessons.json (bench_lessons.py --json), or {} without it."""
    path = Path(path)
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.setdefault("lessons", {})
    return doc


def parse_quantity(text) -> float | None:
    """A Kubernetes quantity in bytes or cores: "2560M" -> 2.56e9, "1Gi" -> 2**30, "0.25" -> 0.25."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?|m)?\s*", str(text))
    if not m:
        return None
    factor = {None: 1, "m": 1e-3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return float(m.group(1)) * factor


def load_values(path=VALUES) -> dict:
    """The per-learner guarantee and limit of the Zero to JupyterHub values file, or {}:
    {"mem_guarantee", "mem_limit"} in MiB with the text as written ("..._text"), and
    {"cpu_guarantee", "cpu_limit"} in cores."""
    path = Path(path)
    if not path.exists():
        return {}
    import yaml                        # PyYAML: pinned in constraints.txt (JupyterLab needs it)
    single = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("singleuser", {})
    memory, cpu = single.get("memory", {}) or {}, single.get("cpu", {}) or {}
    out = {}
    for key in ("guarantee", "limit"):
        if memory.get(key) is not None:
            out[f"mem_{key}"] = parse_quantity(memory[key]) / 2**20
            out[f"mem_{key}_text"] = str(memory[key])
        if cpu.get(key) is not None:
            out[f"cpu_{key}"] = parse_quantity(cpu[key])
    return out


def collect(notebooks_dir=NOTEBOOKS, cell_times_path=CELL_TIMES, bench_path=BENCH) -> tuple[list[Lesson], dict]:
    """One Lesson per notebook, in order, and the bench file ({} without it)."""
    times = load_cell_times(cell_times_path)
    bench = load_bench(bench_path)
    terms = stats_tool.glossary(notebooks_dir)
    out = []
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        nb = stats_tool.load(path)
        s = stats_tool.lesson_stats(path, {k: v["cells"] for k, v in times.items()}, terms)
        entry = times.get(path.name, {"date": None, "cells": {}})
        code = stats_tool.code_cells(nb)
        keys = [stats_tool.cell_key(c) for c in code]
        measured = [entry["cells"][k] for k in keys if k in entry["cells"]]
        long_cells = tuple((c.strip().splitlines()[0], entry["cells"][k]) for c, k in zip(code, keys)
                           if entry["cells"].get(k, 0) > LONG_RUN_S)
        b = bench["lessons"].get(path.name, {}) if bench else {}
        le = Lesson(number=path.name[:2], name=path.name, title=lesson_title(nb), teach=round(s.estimate),
                    code_cells=s.code_cells, laptop_s=sum(measured) if measured else None,
                    laptop_cells=len(measured), laptop_date=entry["date"] if measured else None,
                    long_cells=long_cells)
        if b:
            le.one_core_s, le.two_core_s = b.get("one_core_s"), b.get("two_core_s")
            le.peak_mib, le.cpu_s = b.get("peak_mib"), b.get("kernel_cpu_seconds")
            le.bench_date = b.get("measured") or bench.get("measured")
            le.stale = b.get("code_cells", s.code_cells) != s.code_cells or len(measured) < s.code_cells
        out.append(le)
    return out, bench


# --- formatting ------------------------------------------------------------------------------

NOT_MEASURED = "not measured"


def seconds(s: float | None) -> str:
    """12.3 -> "12 s", 0.44 -> "0.4 s", 185 -> "3.1 min"."""
    if s is None:
        return NOT_MEASURED
    if s < 9.95:
        return f"{s:.1f} s"
    if s < 99.5:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min"


def mib(m: float | None) -> str:
    """700 -> "700 MiB", 1536 -> "1.50 GiB", 46080 -> "45 GiB"."""
    if m is None:
        return NOT_MEASURED
    if m < 1023.5:
        return f"{m:,.0f} MiB"
    return f"{m / 1024:.2f} GiB" if m < 10 * 1024 else f"{m / 1024:,.0f} GiB"


def cores(k: float) -> str:
    """1 -> "1 core", 6 -> "6 cores", 0.25 -> "0.25 of a core"."""
    k = round(k, 2)
    if k < 1:
        return f"{k:g} of a core"
    return f"{k:g} core" if k == 1 else f"{k:g} cores"


def _join(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _s(items) -> str:
    return "s" if len(list(items)) > 1 else ""


def _days(dates) -> str:
    days = sorted({d.split()[0] for d in dates if d})
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def laptop(le: Lesson) -> str:
    if le.laptop_s is None:
        return NOT_MEASURED
    if le.laptop_cells == le.code_cells:
        return seconds(le.laptop_s)
    return f"at least {seconds(le.laptop_s)} ({le.laptop_cells} of {le.code_cells} cells)"


# --- the table of all lessons, and each lesson's line ----------------------------------------

def lesson_times_block(lessons: list[Lesson], bench: dict) -> str:
    rows = ["| lesson | time to teach | its cells, 2-core machine | 1 core | 2 cores | kernel peak memory |",
            "|---|---|---|---|---|---|"]
    for le in lessons:
        mark = " *" if le.stale else ""
        rows.append(f"| {le.number} {le.title}{mark} | {le.teach} min | {laptop(le)} | {seconds(le.one_core_s)} | "
                    f"{seconds(le.two_core_s)} | {mib(le.peak_mib)} |")
    dates = [le.laptop_date for le in lessons if le.laptop_date]
    partial = [le.number for le in lessons if le.laptop_s is not None and le.laptop_cells < le.code_cells]
    missing = [le.number for le in lessons if le.laptop_s is None]
    notes = ["*Time to teach:* the course's estimate (`tools/lesson_stats.py`).",
             "*Its cells, 2-core machine:* the run times of the code cells in `tests/cell_times.json`"
             + (f", measured {_days(dates)}." if dates else ".")]
    if partial:
        notes.append(f"Cells changed since then are not counted (lesson{_s(partial)} {_join(partial)}).")
    if missing:
        notes.append(f"Lesson{_s(missing)} {_join(missing)} {'have' if len(missing) > 1 else 'has'} no "
                     f"measured cells yet.")
    if bench:
        notes.append(f"*1 core, 2 cores, kernel peak memory:* `{BENCH_SCRIPT}`"
                     + (f", {_days([le.bench_date for le in lessons if le.bench_date])}"
                        if any(le.bench_date for le in lessons) else "")
                     + (f", on {bench['machine']}" if bench.get("machine") else "")
                     + (f"; command `{bench['command']}`" if bench.get("command") else "") + ".")
        notes.append("The peak memory is the resident memory of the kernel and what it started; it "
                     "counts shared libraries in full, so it is an upper bound.")
        stale = [le.number for le in lessons if le.stale]
        if stale:
            notes.append(f"\\* Lesson{_s(stale)} {_join(stale)} may have changed after that measurement: "
                         f"the number of code cells differs, or not every cell is in "
                         f"`tests/cell_times.json`. Measure again with `{BENCH_SCRIPT} --json --cell-times`.")
    else:
        notes.append(f"*1 core, 2 cores, kernel peak memory:* not measured yet. `{BENCH_SCRIPT} --json` "
                     f"measures them into `{BENCH.relative_to(ROOT)}`; then run this tool again.")
    return "\n" + "\n".join(rows) + "\n\n" + " ".join(notes) + "\n"


def lesson_line(le: Lesson) -> str:
    """The line in a lesson's section: the time to teach it, and what its cells take."""
    parts = [f"about {le.teach} minutes to teach (the course's estimate)"]
    if le.laptop_s is None:
        parts.append("its cells are not measured yet")
    elif le.laptop_cells == le.code_cells:
        parts.append(f"its cells run in {seconds(le.laptop_s)} on a 2-core machine")
    else:
        parts.append(f"its cells run in at least {seconds(le.laptop_s)} on a 2-core machine "
                     f"({le.laptop_cells} of its {le.code_cells} cells measured)")
    if le.one_core_s is not None or le.peak_mib is not None:
        parts.append(f"1 core: {seconds(le.one_core_s)}, 2 cores: {seconds(le.two_core_s)}, kernel peak "
                     f"memory {mib(le.peak_mib)}" + (" (perhaps measured before the lesson's last change)" if le.stale else ""))
    line = f"{'; '.join(parts)}."
    for first, secs in le.long_cells:
        first = first.replace("`", "'")
        shown = first if len(first) <= 50 else first[:50].rstrip() + " ..."
        line += f" The cell that starts `{shown}` takes {seconds(secs)}: start it early."
    return line


# --- a term plan ----------------------------------------------------------------------------

def term_plan(lessons: list[Lesson], length: int) -> list[list[Lesson]]:
    """The lessons in order, packed into classes of `length` minutes by their time to teach; a
    lesson longer than a class gets one of its own. Optional lessons are left out."""
    classes, current = [], []
    for le in lessons:
        if "optional" in le.title.lower():
            continue
        if current and sum(x.teach for x in current) + le.teach > length:
            classes.append(current)
            current = []
        current.append(le)
    if current:
        classes.append(current)
    return classes


def term_plan_block(lessons: list[Lesson]) -> str:
    out = []
    for length in CLASS_LENGTHS:
        plan = term_plan(lessons, length)
        items = []
        for group in plan:
            minutes = sum(le.teach for le in group)
            over = ", longer than the class" if minutes > length else ""
            items.append(f"{' + '.join(le.number for le in group)} ({minutes} min{over})")
        out.append(f"- **{len(plan)} classes of {length} minutes:** " + " · ".join(items))
    optional = [le.number for le in lessons if "optional" in le.title.lower()]
    if optional:
        out.append(f"- Optional, not in the plan: lesson{_s(optional)} {_join(optional)}.")
    return "\n" + "\n".join(out) + "\n"


# --- what a class needs ----------------------------------------------------------------------

@dataclass
class LessonLoad:
    lesson: Lesson
    cpu_s: float              # CPU work of one learner
    source: str               # "CPU time", "1 core" or "2-core machine"
    own_pace: float           # cores at own pace
    together: float           # cores to end a Run All by the class within MAX_WAIT_MINUTES
    wait_s: float = 0.0       # a Run All by the class on the cores in all

    @property
    def long(self) -> bool:
        return self.cpu_s > LONG_RUN_S


def size_class(lessons: list[Lesson], n: int) -> dict:
    """The figures of a class of n learners (see the module docstring)."""
    loads = []
    for le in lessons:
        work, source = le.work
        if work is not None:
            loads.append(LessonLoad(le, work, source, own_pace=n * work / (max(le.teach, 1) * 60),
                                    together=n * work / (MAX_WAIT_MINUTES * 60)))
    need = [ld.own_pace for ld in loads] + [ld.together for ld in loads if not ld.long]
    total = max(1, math.ceil(max(need, default=0) - 1e-9))
    for ld in loads:
        alone = ld.lesson.two_core_s if ld.lesson.two_core_s is not None else (
            ld.lesson.laptop_s if ld.lesson.laptop_cells == ld.lesson.code_cells else None)
        ld.wait_s = max(n * ld.cpu_s / total, alone or 0.0)
    peaks = [le for le in lessons if le.peak_mib is not None]
    heaviest = max(peaks, key=lambda le: le.peak_mib) if peaks and len(peaks) == len(lessons) else None
    per_learner = math.ceil(heaviest.peak_mib / MEMORY_STEP_MIB) * MEMORY_STEP_MIB if heaviest else None
    counted = {id(ld.lesson) for ld in loads}
    return {"n": n, "loads": loads, "cores": total, "heaviest_peak": heaviest, "per_learner_mib": per_learner,
            "one_server": n <= SINGLE_SERVER_USERS,
            "in_turns": [ld for ld in loads if ld.long and ld.wait_s > MAX_WAIT_MINUTES * 60],
            "long": [ld for ld in loads if ld.long],
            "unmeasured": [le.number for le in lessons if id(le) not in counted],
            "no_peak": [le.number for le in lessons if le.peak_mib is None]}


def _memory_lines(s: dict, n: int, values: dict) -> list[str]:
    if s["per_learner_mib"] is None:
        if len(s["no_peak"]) == len(s["loads"]) + len(s["unmeasured"]):
            return ["- Memory: not sized yet: the peak memory is not measured yet."]
        return [f"- Memory: not sized yet: the peak memory of lesson{_s(s['no_peak'])} "
                f"{_join(s['no_peak'])} is not measured."]
    peak = s["heaviest_peak"]
    line = (f"- Memory: the largest kernel peak is {mib(peak.peak_mib)}, in lesson {peak.number}. Rounded "
            f"up, {mib(s['per_learner_mib'])} a learner: {mib(n * s['per_learner_mib'])} for the class if "
            f"every learner reaches it at the same moment.")
    if peak.peak_mib > DESIGN_LIMIT_MIB:
        line += f" That peak is over the course's budget of {mib(DESIGN_LIMIT_MIB)} a lesson."
    lines = [line]
    if "mem_limit" in values:
        ok = values["mem_limit"] >= peak.peak_mib
        guarantee = (f"a guarantee of {values['mem_guarantee_text']} ({mib(values['mem_guarantee'])}; "
                     f"{mib(n * values['mem_guarantee'])} for the class) and " if "mem_guarantee" in values else "")
        lines.append(f"- The hub files (`values.yaml`, and `jupyterhub_config.py` alike) give each learner "
                     f"{guarantee}a limit of {values['mem_limit_text']} "
                     f"({mib(values['mem_limit'])}; {mib(n * values['mem_limit'])} for the class). "
                     + ("The limit covers the largest peak." if ok else
                        "The limit is below the largest peak: raise it, or that lesson's kernel is stopped."))
    return lines


def _cpu_lines(s: dict, n: int, values: dict) -> list[str]:
    if s["unmeasured"]:
        many = len(s["unmeasured"]) > 1
        return [f"- CPU: not sized yet: lesson{_s(s['unmeasured'])} {_join(s['unmeasured'])} "
                f"{'have' if many else 'has'} no complete measurement. The table shows the lessons that "
                f"have one."]
    lines = [f"- CPU: {cores(s['cores'])} in all. With these, every lesson keeps up when the learners run "
             f"its cells at their own pace. And in every lesson without a long run, a Run All by the whole "
             f"class at the same moment ends within {MAX_WAIT_MINUTES} minutes."]
    if "cpu_guarantee" in values:
        given = n * values["cpu_guarantee"]
        enough = ("That is enough." if given >= s["cores"] else
                  f"That is less: nodes with {cores(s['cores'])} in all give the learners more than their "
                  f"guarantee, or raise it to {s['cores'] / n:.2g}.")
        limit = f" and a limit of {cores(values['cpu_limit'])}" if "cpu_limit" in values else ""
        lines.append(f"- The hub files guarantee each learner {cores(values['cpu_guarantee'])}{limit}: "
                     f"{cores(given)} for the class. {enough}")
    if s["in_turns"]:
        names = _join([ld.lesson.number for ld in s["in_turns"]])
        lines.append(f"- Long runs: lesson{_s(s['in_turns'])} {names}. On {cores(s['cores'])}, a Run All by "
                     f"the whole class at the same moment takes longer than {MAX_WAIT_MINUTES} minutes (the "
                     f"table). Start these cells in turns, or early, or hand out trained weights (below).")
    elif s["long"]:
        lines.append(f"- Long runs: lesson{_s(s['long'])} {_join([ld.lesson.number for ld in s['long']])}. "
                     f"On {cores(s['cores'])} even these end within {MAX_WAIT_MINUTES} minutes when the "
                     f"whole class starts together.")
    return lines


def class_sizing_block(lessons: list[Lesson], bench: dict, values: dict) -> str:
    out = []
    if not bench:
        out += [f"The peak memory and the CPU time of each lesson are not measured yet (`{BENCH_SCRIPT} "
                f"--json`). Until they are, the CPU work below is the time on the 2-core machine (a "
                f"kernel may use both cores, so the real CPU work can be up to twice that), and the "
                f"memory is not sized.", ""]
    for n in CLASS_SIZES:
        s = size_class(lessons, n)
        hub = ("one server: JupyterHub with `deploy/jupyterhub/jupyterhub_config.py`, or The Littlest "
               "JupyterHub ([deploy/README.md](../deploy/README.md), \"One server\")" if s["one_server"] else
               "a Kubernetes cluster with Zero to JupyterHub and `deploy/jupyterhub/values.yaml` "
               "([deploy/README.md](../deploy/README.md), \"Kubernetes\")")
        out += [f"**A class of {n}.**", "", f"- Hub: {hub}."]
        out += _memory_lines(s, n, values)
        out += _cpu_lines(s, n, values)
        out.append("")
        shown = sorted(s["loads"], key=lambda ld: ld.cpu_s, reverse=True)[:SHOW_LESSONS]
        if shown:
            sized = not s["unmeasured"]       # the wait needs the cores in all, which need every lesson
            wait_head = f" a Run All by all {n} on {cores(s['cores'])} |" if sized else ""
            out += [f"| lesson | CPU work a learner | cores at own pace |{wait_head} cores to end a Run All "
                    f"by all {n} within {MAX_WAIT_MINUTES} min |",
                    "|---|---|---|" + ("---|" if sized else "") + "---|"]
            for ld in shown:
                wait = f" {seconds(ld.wait_s)} |" if sized else ""
                out.append(f"| {ld.lesson.number} {ld.lesson.title} | {seconds(ld.cpu_s)} ({ld.source}) | "
                           f"{ld.own_pace:.1f} |{wait} {math.ceil(ld.together - 1e-9)} |")
            rest = len(s["loads"]) - len(shown)
            if rest > 0:
                out += ["", f"The other {rest} measured lessons need less CPU work than these."]
            out.append("")
    out.append(f"How these are computed: the docstring of `tools/teaching_tables.py`. A long run is a lesson "
               f"with more than {seconds(LONG_RUN_S)} of CPU work. The {MAX_WAIT_MINUTES}-minute wait and the "
               f"limit of {SINGLE_SERVER_USERS} learners on one server are choices, not measurements.")
    return "\n" + "\n".join(out) + "\n"


# --- writing the guide -----------------------------------------------------------------------

def marker(name: str, end: bool = False) -> str:
    return f"<!-- {name}:{'end' if end else 'start'} -->"


def blocks(lessons: list[Lesson], bench: dict, values: dict) -> dict[str, str]:
    """{block name: its content} for every block the guide must hold."""
    out = {"lesson-times": lesson_times_block(lessons, bench), "term-plan": term_plan_block(lessons),
           "class-sizing": class_sizing_block(lessons, bench, values)}
    for le in lessons:
        out[f"time:{le.number}"] = lesson_line(le)
    return out


def replace_blocks(text: str, contents: dict[str, str]) -> tuple[str, list[str]]:
    """text with every block's content replaced; and the names of the blocks it lacks."""
    missing = []
    for name, content in contents.items():
        pattern = re.compile(re.escape(marker(name)) + r".*?" + re.escape(marker(name, end=True)), re.S)
        if not pattern.search(text):
            missing.append(name)
            continue
        text = pattern.sub(lambda m: marker(name) + content + marker(name, end=True), text, count=1)
    return text, missing


def render(guide_text: str, notebooks_dir=NOTEBOOKS, cell_times_path=CELL_TIMES, bench_path=BENCH,
           values_path=VALUES):
    lessons, bench = collect(notebooks_dir, cell_times_path, bench_path)
    return replace_blocks(guide_text, blocks(lessons, bench, load_values(values_path)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guide", type=Path, default=GUIDE)
    parser.add_argument("--cell-times", type=Path, default=CELL_TIMES)
    parser.add_argument("--bench", type=Path, default=BENCH,
                        help=f"the JSON file of {BENCH_SCRIPT} --json (default: {BENCH.relative_to(ROOT)})")
    parser.add_argument("--values", type=Path, default=VALUES,
                        help=f"the Zero to JupyterHub values file (default: {VALUES.relative_to(ROOT)})")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if the guide is not up to date")
    group.add_argument("--print", action="store_true", help="print the blocks, write nothing")
    args = parser.parse_args(argv)
    if args.print:
        lessons, bench = collect(NOTEBOOKS, args.cell_times, args.bench)
        for name, content in blocks(lessons, bench, load_values(args.values)).items():
            print(marker(name) + content + marker(name, end=True))
        return 0
    old = args.guide.read_text(encoding="utf-8")
    new, missing = render(old, NOTEBOOKS, args.cell_times, args.bench, args.values)
    if missing:
        print(f"{args.guide}: no markers for {', '.join(missing)}; add "
              f"{marker(missing[0])}{marker(missing[0], end=True)} where it belongs", file=sys.stderr)
        return 1
    if args.check:
        if new != old:
            print(f"{args.guide} is not up to date: run python tools/teaching_tables.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        args.guide.write_text(new, encoding="utf-8")
        print(f"wrote {args.guide}")
    else:
        print(f"{args.guide} was up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
