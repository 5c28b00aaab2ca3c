#!/usr/bin/env python3
"""The course's commands. Standard library only, so it runs on a bare Python 3.11.

    python3 course.py lab      set up if needed, then open JupyterLab on the welcome notebook
    python3 course.py test     set up if needed, then run every test (unit tests, notebooks, browser)
    python3 course.py setup    only the set-up (safe and fast to run again)
    python3 course.py bench    set up, run the benchmarks in benchmarks/, write docs/teaching.md's tables
    python3 course.py site     set up, then build the static course site into build/site

The set-up: Debian packages where apt-get can run (dataset-fashion-mnist; chromium for the
browser test), a virtual environment in .venv with the pinned packages of requirements.txt
(everything they pull in pinned by constraints.txt), helpers installed in editable mode, a
Jupyter kernel named "cnn-course", and Fashion-MNIST checked into data/fashion-mnist.
Each step is skipped when it is already done, so a second run takes a second or two.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".course-installed"
KERNEL_NAME = "cnn-course"
KERNEL_DISPLAY = "CNN course (Python 3)"
APT_PACKAGES = ["dataset-fashion-mnist", "chromium", "fonts-nanum"]
PIP_INPUTS = ["requirements.txt", "constraints.txt", "pyproject.toml"]


def say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    subprocess.run(cmd, check=True, **kw)


def missing_apt_packages() -> list[str]:
    if shutil.which("dpkg-query") is None:
        return []
    missing = []
    for pkg in APT_PACKAGES:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        if "install ok installed" not in out.stdout:
            missing.append(pkg)
    return missing


def install_system_packages() -> None:
    missing = missing_apt_packages()
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        say(f"cannot install {', '.join(missing)} (needs apt-get as root); "
            "Fashion-MNIST will be downloaded instead and the browser test will be skipped")
        return
    say(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = Path(tempfile.gettempdir()) / "cnn-course-apt.log"
    try:
        with open(log, "w") as out:  # apt's chatter goes to a log; its errors are shown below
            run(["apt-get", "update", "-qq"], env=env, stdout=out, stderr=subprocess.STDOUT)
            run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
                stdout=out, stderr=subprocess.STDOUT)
    except subprocess.CalledProcessError as exc:
        print(log.read_text()[-3000:])
        say(f"apt-get failed ({exc}); going on without {' '.join(missing)}")


def pip_fingerprint() -> str:
    h = hashlib.sha256(sys.version.encode())
    for name in PIP_INPUTS:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def install_python_packages() -> None:
    if not PY.exists():
        say("creating the virtual environment .venv")
        run([sys.executable, "-m", "venv", str(VENV)])
    fingerprint = pip_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    say("installing the pinned Python packages into .venv (first time: a few minutes)")
    # --no-compile: Python compiles a module when it is first imported, instead of pip compiling
    # every module of every package now (18 s instead of 27 s for this step, measured)
    proc = subprocess.run([str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                           "--no-compile", "-r", str(ROOT / "requirements.txt"),
                           "-c", str(ROOT / "constraints.txt"), "-e", str(ROOT)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Some machines' pip configuration names local package folders that do not exist; pip warns
    # about each one. Those lines say nothing about the course, so they are left out.
    print("\n".join(line for line in proc.stdout.splitlines() if not line.startswith("WARNING: Location")))
    if proc.returncode != 0:
        sys.exit(f"[course] pip install failed (exit {proc.returncode}); see above")
    STAMP.write_text(fingerprint)


def register_kernel() -> None:
    spec = VENV / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    if spec.exists():
        return
    say(f"registering the Jupyter kernel '{KERNEL_NAME}'")
    run([str(PY), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
         "--display-name", KERNEL_DISPLAY])


def check_data() -> None:
    code = ("from helpers.data import load_fashion_mnist, DataError\n"
            "try:\n    load_fashion_mnist()\n"
            "except DataError as e:\n    print(e); raise SystemExit(1)\n")
    if subprocess.run([str(PY), "-c", code]).returncode != 0:
        say("Fashion-MNIST is not available yet (see above); the lessons that train will fail")


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    start = time.perf_counter()
    install_system_packages()
    install_python_packages()
    register_kernel()
    check_data()
    say(f"set-up done in {time.perf_counter() - start:.1f} s")


def lab(args: list[str]) -> None:
    setup()
    cmd = [str(VENV / "bin" / "jupyter"), "lab", "--notebook-dir", str(ROOT),
           f"--MultiKernelManager.default_kernel_name={KERNEL_NAME}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    os.execv(cmd[0], cmd + args + ["notebooks/00_welcome.ipynb"])


def test_workers(args: list[str]) -> list[str]:
    """pytest-xdist's options for one test worker per usable core (at most 4), unless the
    arguments already say how to run (-n, --numprocesses, --dist, -p no:xdist) or ask for the
    debugger (--pdb, --trace: one process). conftest.py shares the work out; one core runs
    everything in one process, in order."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    given = any(a.startswith(("-n", "--numprocesses", "--dist", "--pdb", "--trace")) or "no:xdist" in a
                for a in args)
    return [] if given or cores < 2 else ["-n", str(min(cores, 4))]


def test(args: list[str]) -> None:
    setup()
    os.chdir(ROOT)
    os.execv(str(PY), [str(PY), "-m", "pytest", *test_workers(args), *args])


def bench(args: list[str]) -> None:
    setup()
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        say(f"running {script.relative_to(ROOT)}")
        run([str(PY), str(script), *args], cwd=ROOT)
    say("writing the measured tables of docs/teaching.md (tools/teaching_tables.py)")
    run([str(PY), str(ROOT / "tools" / "teaching_tables.py")], cwd=ROOT)


def site(args: list[str]) -> None:
    setup()
    os.chdir(ROOT)
    os.execv(str(PY), [str(PY), str(ROOT / "tools" / "build_site.py"), *args])


COMMANDS = {"setup": lambda a: setup(), "lab": lab, "test": test, "bench": bench, "site": site}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])
