"""A class on a real JupyterHub, end to end, on 127.0.0.1 (deploy/jupyterhub/).

The hub is JupyterHub 6.1.1 from deploy/jupyterhub/requirements.txt with its configurable-http-proxy
from the npm registry, both installed by tests/hub/classroom.py into .venv/jupyterhub/ the first
time (about a minute; later runs find them there). It runs deploy/jupyterhub/jupyterhub_config.py
with a test's authenticator (DummyAuthenticator with a password, three learners on its list) and
the SimpleLocalProcessSpawner (each learner's home in a temporary folder). The learners use it
over HTTP as their browsers would (tests/hub/classroom.py):

1. three learners log in through the login form at once, follow the nbgitpuller hand-out link
   (the hub starts their servers, nbgitpuller pulls a repository holding the working tree into
   their homes), open lesson 01 through the contents API and run all its code cells in their own
   kernel, the course kernel "cnn-course", over the kernel websocket;
2. a learner who edited the lesson keeps the edit when they follow the link again, and gets the
   teacher's update to another lesson, and a lesson they deleted comes back (nbgitpuller's merge);
3. a learner's token and cookies are refused (403) on another learner's server and on the hub's
   admin API and admin page (on another learner's resources in the hub's API, the hub answers
   404 "No access", so as not to tell whether they exist); a wrong password and a user not on
   the class list cannot log in;
4. the deployment's idle culling runs (the hub's culler service, kernel culling in each server),
   and stopping the servers and the hub leaves no process behind and no port open.

Two more tests need no hub: values.yaml asks for the same per-learner limits as
jupyterhub_config.py, and the hub's requirements are pinned.

Without Node.js and npm, or when the registries cannot be reached (an offline machine), the hub
tests are skipped and say why; under CI (CI=true) a failed install fails them instead.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "hub"))
import classroom  # noqa: E402  (tests/hub/classroom.py)

ROOT = Path(__file__).resolve().parent.parent
LEARNERS = ["ada", "ben", "chloe"]
LESSON = "notebooks/01_convolution.ipynb"
#: What lesson 01's cells leave in the kernel: the 5x5 image and 2x2 kernel of its worked example.
IMAGE = np.array([[1, 0, 2, 3, 1], [0, 1, 3, 2, 0], [2, 3, 1, 0, 1], [1, 2, 0, 1, 3], [0, 1, 2, 3, 2]],
                 dtype=np.float32)
KERNEL = np.array([[2, 0], [1, -1]], dtype=np.float32)
CHECK_CELL = """\
import json, os, sys
import helpers
print(json.dumps({"python": sys.executable, "cwd": os.getcwd(), "pid": os.getpid(),
                  "home": os.environ.get("HOME"), "fmap": fmap.tolist(),
                  "helpers_conv": helpers.conv.conv2d(image[None, None], kernel[None, None])[0, 0].tolist()}))
"""


def cross_correlate(image, kernel):
    kh, kw = kernel.shape
    return np.array([[np.sum(image[i:i + kh, j:j + kw] * kernel)
                      for j in range(image.shape[1] - kw + 1)] for i in range(image.shape[0] - kh + 1)])


def deploy_config():
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader(classroom.CONFIG.name, str(classroom.CONFIG.parent)).load_config()


def test_the_kubernetes_values_ask_for_the_same_per_learner_limits_as_the_one_server_config():
    import yaml
    spawner = deploy_config().Spawner
    values = yaml.safe_load((classroom.DEPLOY / "values.yaml").read_text())
    single = values["singleuser"]
    assert str(single["memory"]["limit"]) == spawner.mem_limit
    assert str(single["memory"]["guarantee"]) == spawner.mem_guarantee
    assert float(single["cpu"]["limit"]) == spawner.cpu_limit
    assert float(single["cpu"]["guarantee"]) == spawner.cpu_guarantee
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NBGITPULLER_APP"):
        assert str(single["extraEnv"][var]) == spawner.environment[var], var
    kernels = single["extraFiles"]["jupyter_server_config"]["data"]
    assert kernels["MultiKernelManager"]["default_kernel_name"] == "cnn-course"
    idle = kernels["MappingKernelManager"]["cull_idle_timeout"]
    assert f"--MappingKernelManager.cull_idle_timeout={idle}" in spawner.args
    # the limit leaves room for a lesson's kernel within the course's 2 GiB budget
    units = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}
    limit = float(spawner.mem_limit[:-1]) * units[spawner.mem_limit[-1]]
    assert limit >= 2 * 2 ** 30


def test_the_hub_requirements_are_pinned_and_the_readme_shows_the_handout_link():
    lines = [line.split("#")[0].strip() for line in classroom.REQUIREMENTS.read_text().splitlines()]
    lines = [line for line in lines if line]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", line) for line in lines), lines
    assert {"jupyterhub==6.1.1", "nbgitpuller==1.3.0"} <= set(lines)
    lock = json.loads((classroom.PROXY_PACKAGE / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == "5.3.0"
    readme = (ROOT / "deploy" / "README.md").read_text()
    link = classroom.handout_link("https://HUB", "REPO_URL", "notebooks/00_welcome.ipynb")
    assert urllib.parse.unquote(link) == ("https://HUB/hub/user-redirect/git-pull?repo=REPO_URL"
                                          "&urlpath=lab/tree/REPO_URL/notebooks/00_welcome.ipynb&branch=main")
    assert ("https://HUB/hub/user-redirect/git-pull?repo=REPO_URL&urlpath=lab/tree/REPO/notebooks/"
            "00_welcome.ipynb&branch=main") in readme


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The hub with its learners, and what the tests find out on the way."""
    try:
        tools = classroom.prepare()
    except classroom.Unavailable as exc:
        if os.environ.get("CI") and "is not installed" not in str(exc):
            pytest.fail(str(exc))
        pytest.skip(f"cannot run a JupyterHub here: {exc}")
    import psutil
    work = tmp_path_factory.mktemp("hub")
    upstream = classroom.course_repo(work / "upstream" / "cnn-course")
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    hub = classroom.Hub(tools, work / "hub", LEARNERS)
    hub.start()
    state = {"hub": hub, "upstream": upstream, "work": work, "children_before": children_before,
             "link": classroom.handout_link(hub.url, upstream.as_uri(), LESSON),
             "learners": {name: classroom.Learner(hub, name) for name in LEARNERS}, "runs": {}}
    try:
        yield state
    finally:
        hub.stop()


def learner_session(course, name):
    """Everything one learner does in part 1; returns what the test checks."""
    learner = course["learners"][name]
    began = time.perf_counter()
    login = learner.login()
    assert login.status_code == 302 and "/login" not in login.headers["location"], \
        f"{name} could not log in: {login.status_code} {login.text[:300]}"
    events, landing, page = learner.follow(course["link"])
    assert events[-1]["phase"] == "finished", f"nbgitpuller for {name}: {events}"
    assert landing.endswith(f"/user/{name}/lab/tree/cnn-course/{LESSON}")
    assert page.status_code == 200 and "jupyter-config-data" in page.text, "JupyterLab did not open"
    pulled = time.perf_counter() - began
    learner.new_token()
    model = learner.api("GET", f"/contents/cnn-course/{LESSON}").json()
    assert model["type"] == "notebook"
    cells = classroom.code_cells(model["content"])
    kernel_id = learner.open_notebook(f"cnn-course/{LESSON}")
    channel = learner.kernel(kernel_id)
    try:
        outputs = [channel.run(code) for code in cells]
        check = json.loads(channel.run(CHECK_CELL)["stdout"])
    finally:
        channel.close()
    return {"cells": cells, "outputs": outputs, "check": check, "kernel_id": kernel_id,
            "pull_seconds": pulled, "seconds": time.perf_counter() - began}


def test_learners_log_in_pull_the_course_and_run_a_lesson_in_their_own_kernel(course):
    hub = course["hub"]
    with ThreadPoolExecutor(len(LEARNERS)) as pool:
        runs = dict(zip(LEARNERS, pool.map(lambda n: learner_session(course, n), LEARNERS)))
    course["runs"] = runs
    committed = classroom.code_cells(json.loads((course["upstream"] / LESSON).read_text()))
    expected = cross_correlate(IMAGE, KERNEL)
    for name, run in runs.items():
        home = hub.home(name)
        # the lesson that the contents API served is the pulled copy of the working tree's
        assert (home / "cnn-course" / LESSON).is_file()
        assert (home / "cnn-course" / "helpers" / "conv.py").is_file()
        assert run["cells"] == committed and len(run["cells"]) >= 5
        # the course kernel, in the learner's copy of the lesson's folder
        check = run["check"]
        assert check["python"] == str(Path(sys.prefix) / "bin" / "python"), check["python"]
        assert Path(check["cwd"]) == home / "cnn-course" / "notebooks"
        assert Path(check["home"]) == home
        # the lesson's cells computed what the lesson says, and helpers agrees
        assert any("out[1, 2] = 7.0" in o["stdout"] for o in run["outputs"]), \
            [o["stdout"] for o in run["outputs"]]
        np.testing.assert_array_equal(np.array(check["fmap"]), expected)
        np.testing.assert_array_equal(np.array(check["helpers_conv"]), expected)
        print(f"{name}: link to JupyterLab {run['pull_seconds']:.1f} s, "
              f"all {len(run['cells'])} cells run {run['seconds']:.1f} s after login")
    pids = {run["check"]["pid"] for run in runs.values()}
    assert len(pids) == len(LEARNERS), "learners share a kernel"
    homes = {run["check"]["home"] for run in runs.values()}
    assert len(homes) == len(LEARNERS), "learners share a home"


def test_a_learners_edit_survives_the_next_pull_and_the_teachers_update_arrives(course):
    if not course["runs"]:
        pytest.skip("needs the learners of the first test")
    learner = course["learners"][LEARNERS[0]]
    path = f"/contents/cnn-course/{LESSON}"
    model = learner.api("GET", path).json()
    note = f"My note: out[1, 2] is 7 ({learner.name})."
    model["content"]["cells"].append({"cell_type": "markdown", "metadata": {}, "source": note})
    saved = learner.api("PUT", path, json={"type": "notebook", "format": "json",
                                           "content": model["content"]})
    assert saved.status_code == 200, saved.text
    # the teacher fixes lesson 00 and adds a hand-out, upstream
    upstream = course["upstream"]
    welcome = upstream / "notebooks" / "00_welcome.ipynb"
    nb = json.loads(welcome.read_text())
    update = "Update from your teacher: this week we start with lesson 01."
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": update})
    welcome.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    (upstream / "notebooks" / "HANDOUT.md").write_text("Homework: exercises of lesson 01.\n")
    classroom.commit(upstream, "Teacher's update")
    # and the learner deleted lesson 03 by mistake
    assert learner.api("DELETE", "/contents/cnn-course/notebooks/03_padding_stride.ipynb").status_code == 204

    events, _, page = learner.follow(course["link"])
    assert events[-1]["phase"] == "finished", events
    assert page.status_code == 200
    mine = learner.api("GET", path).json()["content"]
    assert mine["cells"][-1]["source"] == note, "the learner's edit was lost in the pull"
    assert classroom.code_cells(mine) == course["runs"][learner.name]["cells"]
    theirs = learner.api("GET", "/contents/cnn-course/notebooks/00_welcome.ipynb").json()["content"]
    assert theirs["cells"][0]["source"] == update, "the teacher's update did not arrive"
    handout = learner.api("GET", "/contents/cnn-course/notebooks/HANDOUT.md").json()
    assert handout["content"] == "Homework: exercises of lesson 01.\n"
    assert learner.api("GET", "/contents/cnn-course/notebooks/03_padding_stride.ipynb").status_code == 200, \
        "the deleted lesson did not come back"
    # another learner's copy is untouched by the first one's edit
    other = course["learners"][LEARNERS[1]]
    assert other.api("GET", path).json()["content"]["cells"][-1]["source"] != note


def test_a_learner_is_refused_on_another_learners_server_and_on_the_admin_api(course):
    if not course["runs"]:
        pytest.skip("needs the learners of the first test")
    hub = course["hub"]
    a, b = (course["learners"][n] for n in LEARNERS[:2])
    # the same requests work where they are allowed (so a 403 below is a refusal, not a typo)
    assert a.api("GET", "/contents/cnn-course").status_code == 200
    assert b.api("GET", "/contents/cnn-course").status_code == 200
    assert hub.admin("GET", f"/users/{b.name}").status_code == 200
    # a's token on b's server
    assert a.api("GET", "/contents/cnn-course", server=b.name).status_code == 403
    assert a.api("GET", "/kernels", server=b.name).status_code == 403
    assert a.api("POST", "/kernels", server=b.name, json={"name": "cnn-course"}).status_code == 403
    # a's browser session (cookies) on b's server: the hub refuses to hand a's identity to it
    r = a.http.get(f"{hub.url}/user/{b.name}/api/contents/cnn-course", timeout=60)
    assert r.status_code == 403, (r.status_code, r.url)
    r = a.http.get(f"{hub.url}/user/{b.name}/lab", timeout=60)
    assert r.status_code == 403, (r.status_code, r.url)
    # a's token and cookies on the hub's admin API and admin page: 403. On another user's
    # resources the hub answers 404 "No access to resources or resources not found", so as not to
    # tell whether they exist; that is a refusal too, and b's server keeps running.
    headers = {"Authorization": f"token {a.token}"}
    for method, path, refused in [("GET", "/users", {403}), ("POST", "/users/mallory", {403}),
                                  ("GET", "/proxy", {403}), ("POST", "/shutdown", {403}),
                                  ("DELETE", f"/users/{b.name}/server", {403, 404}),
                                  ("POST", f"/users/{b.name}/tokens", {403, 404})]:
        r = a.http.request(method, f"{hub.url}/hub/api{path}", headers=headers, timeout=30)
        assert r.status_code in refused, (method, path, r.status_code, r.text[:200])
        if r.status_code == 404:
            assert "No access" in r.json()["message"]
    assert a.http.get(f"{hub.url}/hub/admin", timeout=30).status_code == 403
    assert hub.admin("GET", f"/users/{b.name}").json()["server"], "b's server was stopped"
    assert hub.admin("GET", "/users/mallory").status_code == 404
    # a wrong password, and a user who is not on the class list, cannot log in
    for name, password in [(b.name, "wrong-" + hub.password), ("mallory", hub.password)]:
        r = classroom.Learner(hub, name, password).login()
        assert r.status_code == 403 and "/hub/login" in r.url, (name, r.status_code)


def test_stopping_the_servers_and_the_hub_leaves_no_process_and_no_port(course):
    import psutil
    hub = course["hub"]
    family = hub.processes()
    ports = hub.listening_ports()
    commands = [" ".join(p.cmdline()) for p in family]
    if course["runs"]:      # the learners' servers and kernels are there to be stopped
        assert sum("jupyterhub-singleuser" in c for c in commands) == len(LEARNERS), commands
        assert sum("ipykernel_launcher" in c for c in commands) >= len(LEARNERS), commands
    assert any("configurable-http-proxy" in c for c in commands), commands
    # the deployment's idle culling runs: the hub's culler service, and kernel culling in each server
    config = deploy_config()
    culler = " ".join(next(s for s in config.JupyterHub.services if s["name"] == "idle-culler")["command"][1:])
    assert any(c.endswith(culler) for c in commands), (culler, commands)
    kernel_culling = [a for a in config.Spawner.args if "cull_idle_timeout" in a]
    assert kernel_culling and all(kernel_culling[0] in c for c in commands if "jupyterhub-singleuser" in c)
    assert {hub.port, hub.hub_port, hub.api_port} <= ports
    hub.stop_servers()
    assert not [c for c in (" ".join(p.cmdline()) for p in hub.processes() if p.is_running())
                if "jupyterhub-singleuser" in c or "ipykernel" in c]
    killed = hub.stop()
    assert killed == [], f"had to be killed: {killed}"
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"still running: {left}"
    assert not [port for port in ports if classroom.port_open(port)], "a port is still open"
    work = str(course["work"])
    strays = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        with contextlib.suppress(psutil.Error):
            if (p.info["cwd"] or "").startswith(work) or work in " ".join(p.info["cmdline"] or []):
                strays.append(p)
    assert not strays, f"processes still in the hub's folder: {strays}"
    children = {p.pid for p in psutil.Process().children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE}
    assert children <= course["children_before"], "the test left a child process"
    assert re.search(r"Cleaning up PID file|\.\.\.done", hub.log_text()), hub.log_text()[-2000:]
