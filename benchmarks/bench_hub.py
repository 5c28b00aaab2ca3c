"""A class on one JupyterHub: N learners at once each run the same lesson in their own server.

    .venv/bin/python benchmarks/bench_hub.py                      # N = 2, 4, 8 learners, lesson 07
    .venv/bin/python benchmarks/bench_hub.py --learners 1,4 --lesson 12
    .venv/bin/python benchmarks/bench_hub.py --docs               # and write the table into docs/performance.md
    .venv/bin/python benchmarks/bench_hub.py --quick              # a check that it runs: 2 learners, lesson 00

For each N, a new JupyterHub starts on 127.0.0.1 with deploy/jupyterhub/jupyterhub_config.py, as
tests/test_jupyterhub.py starts it (tests/hub/classroom.py: the same pinned hub and proxy,
installed into .venv/jupyterhub/ the first time). Then, as at the start of a class, the N
learners at once log in, follow the nbgitpuller hand-out link (the hub starts their servers,
nbgitpuller pulls the course) and open the lesson (its kernel, "cnn-course", starts). When all
are ready, all run the lesson's code cells at the same moment, each in their own kernel, over
the kernel websocket. Printed per N:

- class start: the time until the last learner had the lesson open with its kernel ready;
- lesson: the time until the last learner's last cell finished, and the fastest learner's time;
- kernel CPU: each kernel's CPU time (user + system seconds), the median over the learners:
  N times it, divided by the cores, is the least time the whole class can take;
- kernel peak: each kernel's peak resident memory (RSS, the larger of the sampled value and the
  kernel's VmHWM), the median and the largest over the learners;
- server: each learner's single-user server's peak RSS (median over the learners);
- hub and proxy: their CPU time (user + system seconds, over the whole run) and peak RSS.

Every process is sampled every --interval seconds. The machine's load average is printed at
the start and the end: with other work on the cores the times mean little. The hub and every
server are stopped after each N. --quick is a check that the script runs (its figures mean
little). --docs [PATH] writes the run between <!-- bench_hub:begin --> and <!-- bench_hub:end -->
of PATH (default docs/performance.md).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import report as docs_report  # benchmarks/report.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hub"))
import classroom  # noqa: E402  (tests/hub/classroom.py)

MiB = 1024 ** 2


class Watcher(threading.Thread):
    """Samples the RSS of every process under the hub every ``interval`` seconds and keeps each
    one's peak (by pid), with its command line and working folder."""

    def __init__(self, hub, interval):
        super().__init__(daemon=True)
        self.hub, self.interval = hub, interval
        self.peak, self.info, self.procs = {}, {}, {}
        self.halt = threading.Event()

    def sample(self):
        import psutil
        for p in self.hub.processes():
            with contextlib.suppress(psutil.Error):
                # read every time: a process seen between fork and exec still shows its parent's
                self.info[p.pid] = (" ".join(p.cmdline()), p.cwd())
                self.procs.setdefault(p.pid, p)
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), p.memory_info().rss)

    def run(self):
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.join()
        self.sample()
        for pid in self.peak:                     # the exact high-water mark where still readable
            self.peak[pid] = max(self.peak[pid], docs_report.peak_rss_bytes(pid))

    def find(self, word, cwd=None):
        """The running processes whose command line holds ``word`` (and that run in ``cwd``).
        Short-lived ones are left out: a server's git, seen between fork and exec, looks like
        the server."""
        return [pid for pid, (cmd, where) in self.info.items()
                if word in cmd and (cwd is None or Path(where) == Path(cwd)) and self.procs[pid].is_running()]

    def cpu_seconds(self, pid):
        import psutil
        with contextlib.suppress(psutil.Error):
            t = self.procs[pid].cpu_times()
            return t.user + t.system
        return float("nan")


def one_class(tools, work: Path, upstream: Path, n: int, lesson: str, interval: float) -> dict:
    names = [f"learner{i + 1:02d}" for i in range(n)]
    hub = classroom.Hub(tools, work / f"hub-{n}", names)
    hub.start()
    watcher = Watcher(hub, interval)
    watcher.start()
    link = classroom.handout_link(hub.url, upstream.as_uri(), lesson)
    began = time.perf_counter()
    try:
        def arrive(name):
            learner = classroom.Learner(hub, name)
            assert learner.login().status_code == 302, f"{name} could not log in"
            events, _, page = learner.follow(link)
            assert events[-1]["phase"] == "finished" and page.status_code == 200, events[-1]
            learner.new_token()
            model = learner.api("GET", f"/contents/cnn-course/{lesson}").json()
            channel = learner.kernel(learner.open_notebook(f"cnn-course/{lesson}"))
            channel.run("pass")                          # the kernel is up and answers
            return learner, channel, classroom.code_cells(model["content"]), time.perf_counter() - began

        with ThreadPoolExecutor(n) as pool:
            arrived = list(pool.map(arrive, names))
        class_start = time.perf_counter() - began
        hub_pid = hub.proc.pid
        proxy_pid = watcher.find("configurable-http-proxy")[0]
        cpu_before = {pid: watcher.cpu_seconds(pid) for pid in (hub_pid, proxy_pid)}
        go = threading.Barrier(n)

        def run_lesson(entry):
            learner, channel, cells, _ = entry
            go.wait()
            t0 = time.perf_counter()
            for code in cells:
                channel.run(code, timeout=3600)
            return time.perf_counter() - t0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            own = list(pool.map(run_lesson, arrived))
        lesson_all = time.perf_counter() - t0
        watcher.sample()
        cpu_after = {pid: watcher.cpu_seconds(pid) for pid in (hub_pid, proxy_pid)}
        folder = Path("cnn-course") / Path(lesson).parent
        kernel_pids = [pid for name in names
                       for pid in watcher.find("ipykernel_launcher", hub.home(name) / folder)]
        kernel_cpu = [watcher.cpu_seconds(pid) for pid in kernel_pids]
        for _, channel, _, _ in arrived:
            channel.close()
        watcher.stop()
        kernels = [watcher.peak[p] for p in kernel_pids]
        servers = [watcher.peak[p] for name in names
                   for p in watcher.find("jupyterhub-singleuser", hub.home(name))]
        assert len(kernels) == n and len(servers) == n, (len(kernels), len(servers))
        hub.stop_servers()
        return {"learners": n, "lesson": lesson, "cells": len(arrived[0][2]),
                "class_start_seconds": class_start, "lesson_seconds": lesson_all,
                "learner_seconds": own, "kernel_peak_bytes": kernels, "kernel_cpu_seconds": kernel_cpu,
                "server_peak_bytes": servers,
                "hub_cpu_seconds": cpu_after[hub_pid],
                "hub_cpu_lesson_seconds": cpu_after[hub_pid] - cpu_before[hub_pid],
                "proxy_cpu_seconds": cpu_after[proxy_pid],
                "hub_peak_bytes": watcher.peak[hub_pid], "proxy_peak_bytes": watcher.peak[proxy_pid]}
    finally:
        if watcher.is_alive():
            watcher.halt.set()
        killed = hub.stop()
        if killed:
            print(f"warning: had to kill {killed}", file=sys.stderr)


def table(rows) -> str:
    head = ["learners", "class start s", "lesson: all done s", "fastest learner s", "kernel CPU s median",
            "kernel peak MiB median (max)",
            "server MiB median", "hub CPU s (during lesson)", "hub MiB", "proxy CPU s", "proxy MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        k = [b / MiB for b in r["kernel_peak_bytes"]]
        lines.append("| " + " | ".join([
            str(r["learners"]), f"{r['class_start_seconds']:.1f}", f"{r['lesson_seconds']:.1f}",
            f"{min(r['learner_seconds']):.1f}", f"{statistics.median(r['kernel_cpu_seconds']):.1f}",
            f"{statistics.median(k):.0f} ({max(k):.0f})",
            f"{statistics.median(b / MiB for b in r['server_peak_bytes']):.0f}",
            f"{r['hub_cpu_seconds']:.1f} ({r['hub_cpu_lesson_seconds']:.1f})",
            f"{r['hub_peak_bytes'] / MiB:.0f}",
            f"{r['proxy_cpu_seconds']:.1f}", f"{r['proxy_peak_bytes'] / MiB:.0f}"]) + " |")
    return "\n".join(lines)


def loadavg() -> str:
    a = os.getloadavg()
    return f"{a[0]:.2f} {a[1]:.2f} {a[2]:.2f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--learners", default="2,4,8", help="class sizes to run, comma-separated (default 2,4,8)")
    p.add_argument("--lesson", default="07", help="the lesson every learner runs: its number or file "
                                                  "name in notebooks/ (default 07)")
    p.add_argument("--interval", type=float, default=0.1, help="memory sampling interval, s")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = docs_report.parse_args(p, "bench_hub", "a check that it runs: 2 learners, lesson 00",
                                  dict(learners="2", lesson="00"))
    matches = sorted((ROOT / "notebooks").glob(f"{args.lesson}*.ipynb"))
    if len(matches) != 1:
        p.error(f"--lesson {args.lesson}: {len(matches)} notebooks match in notebooks/")
    lesson = f"notebooks/{matches[0].name}"
    sizes = [int(x) for x in args.learners.split(",") if x.strip()]
    try:
        tools = classroom.prepare()
    except classroom.Unavailable as exc:
        sys.exit(f"cannot run a JupyterHub here: {exc}")

    from helpers.perf import machine
    started, machine_line = docs_report.now(), machine()
    load_start = loadavg()
    print(machine_line)
    print(f"load average at start: {load_start} on {os.cpu_count()} cores; lesson {lesson}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        work = Path(tmp)
        upstream = classroom.course_repo(work / "upstream" / "cnn-course")
        for n in sizes:
            r = one_class(tools, work, upstream, n, lesson, args.interval)
            rows.append(r)
            print(f"{n} learners: class start {r['class_start_seconds']:.1f} s, lesson all done "
                  f"{r['lesson_seconds']:.1f} s (each: " + ", ".join(f"{s:.1f}" for s in r["learner_seconds"])
                  + "), kernel peaks MiB: " + ", ".join(f"{b / MiB:.0f}" for b in r["kernel_peak_bytes"])
                  + f"; hub CPU {r['hub_cpu_seconds']:.1f} s, hub {r['hub_peak_bytes'] / MiB:.0f} MiB, "
                  f"proxy {r['proxy_peak_bytes'] / MiB:.0f} MiB", flush=True)
    load_end = loadavg()
    print(f"load average at end: {load_end}\n")
    text = table(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"measured": started, "machine": machine_line, "lesson": lesson,
                                         "runs": rows}, indent=1) + "\n")
    if args.docs is not None:
        notes = (f"Lesson {Path(lesson).name} ({rows[0]['cells']} code cells), each learner in their own "
                 "server and kernel, set up by deploy/jupyterhub/jupyterhub_config.py (so one BLAS "
                 "thread per kernel; the machine line above is this script's own). Load average at start: {load_start}; at end: {load_end} "
                 f"({os.cpu_count()} cores). Class start: until the last learner had logged in, pulled the "
                 "course and had the lesson's kernel ready. Lesson: until the last learner's last cell "
                 "was done, all starting together. Memory: peak RSS; CPU: user + system seconds.")
        docs_report.write_section("bench_hub", docs_report.run_markdown(started, machine_line,
                                                                        text + "\n\n" + notes), args.docs)
        print(f"written to {args.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
