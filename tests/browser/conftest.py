"""A JupyterLab server and a Chromium page for the browser tests.

JupyterLab runs on 127.0.0.1 with a token, on a copy of notebooks/ in a temporary folder (so its
autosave can never write outputs into the committed notebooks), with the app exposed to the page
(``window.jupyterapp``) so the test can run commands as the menus do. ``CNN_COURSE_NOTEBOOKS``
names another folder to copy instead (e.g. scratch copies of the lessons with a cell added, to
try a new explorer in the browser before it goes into a lesson). The browser is Debian's
Chromium (``/usr/bin/chromium``, installed by the set-up), driven by Playwright for Python; no
browser is downloaded.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "browser"
NOTEBOOKS = Path(os.environ.get("CNN_COURSE_NOTEBOOKS") or ROOT / "notebooks")
#: Where the browser test writes every explorer's measured update times (milliseconds).
UPDATE_TIMES = SCREENSHOTS / "explorer_update_times.json"
CHROMIUM = Path(os.environ.get("CNN_COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> None:
    """User settings: no autosave, no news or update checks (the machine may be offline)."""
    plugins = {
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    }
    for rel, value in plugins.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Start JupyterLab; yield (base_url, token, workdir); shut it down cleanly afterwards."""
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} not found: the set-up installs Debian's chromium where apt-get can run as root"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOKS, work / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "requirements.txt", work / "requirements.txt")
    _settings(work / "settings")
    token, port = secrets.token_hex(16), _free_port()
    log = open(work / "jupyterlab.log", "w")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           f"--LabApp.user_settings_dir={work / 'settings'}", f"--LabApp.workspaces_dir={work / 'workspaces'}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("JupyterLab did not start:\n" + (work / "jupyterlab.log").read_text()[-3000:])
        time.sleep(0.5)
    try:
        yield base, token, work
    finally:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10).close()
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait()
        log.close()
        assert proc.returncode is not None


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def lab_page(browser, lab):
    """The JupyterLab page that every lesson of the session opens in, as a tab (LessonPage
    closes it after the test). Loading JupyterLab once, not for each lesson, saves about 3 s of
    each browser test."""
    base, token, _ = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{base}/lab?token={token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
        page.evaluate("async () => { await window.jupyterapp.restored; return true; }")
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def shots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def update_times(shots):
    """A dict the tests fill with each explorer's measured update times; written as JSON to
    artifacts/browser/explorer_update_times.json at the end of the session (merged with what an
    earlier run of other tests wrote, so running one lesson's test keeps the others' figures)."""
    times: dict = {}
    yield times
    if not times:
        return
    # two test workers may finish at the same moment: one reads, merges and writes at a time
    with open(UPDATE_TIMES.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = {}
        if UPDATE_TIMES.exists():
            try:
                old = json.loads(UPDATE_TIMES.read_text())
            except ValueError:
                old = {}
        old.update(times)
        UPDATE_TIMES.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
