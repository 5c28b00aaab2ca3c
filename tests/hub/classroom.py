"""A real JupyterHub on 127.0.0.1 with learners who use it over HTTP, for tests/test_jupyterhub.py
and benchmarks/bench_hub.py.

``prepare()`` installs what the hub needs into a cache that git ignores (``.venv/jupyterhub/``),
once: configurable-http-proxy from the npm registry (``npm ci`` of
deploy/jupyterhub/proxy/package-lock.json), and a virtual environment with
deploy/jupyterhub/requirements.txt (jupyterhub, nbgitpuller, the idle culler) layered on top of
the course's own environment (a .pth file adds the course's site-packages), so the course's
.venv stays exactly as requirements.txt says and a learner's set-up never pays for the hub. A
second call finds the stamp and returns at once.

``Hub`` starts ``jupyterhub`` with deploy/jupyterhub/jupyterhub_config.py and a few settings on
top for a test: a DummyAuthenticator with one password and a class list, the
SimpleLocalProcessSpawner with each learner's home under the hub's temporary folder, the
single-user server from the cache's environment, random ports on 127.0.0.1, and a service token
with admin rights (for the test's own checks and for stopping servers).

``Learner`` does what a learner's browser does, with ``requests``: the hub's login form, the
nbgitpuller hand-out link (the hub's spawn, the OAuth hand-shake with the learner's server,
nbgitpuller's page and its event stream, which does the pull), the contents API, and a kernel
whose cells run over the kernel websocket (websocket-client), as JupyterLab does.

``course_repo()`` commits the working tree (tracked files and new ones that git does not
ignore) into a fresh repository on branch main: the repository that the hand-out link pulls.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "jupyterhub"
CONFIG = DEPLOY / "jupyterhub_config.py"
REQUIREMENTS = DEPLOY / "requirements.txt"
PROXY_PACKAGE = DEPLOY / "proxy"
CACHE = ROOT / ".venv" / "jupyterhub"           # .venv/ is ignored by git
KERNEL = "cnn-course"


class Unavailable(RuntimeError):
    """The machine cannot run the hub (no npm or Node.js, or the registries cannot be reached)."""


def _say(msg):
    print(f"[hub] {msg}", file=sys.stderr, flush=True)


# --- installing the hub into the cache -------------------------------------------------------

@dataclass
class Tools:
    python: Path        # the hub's environment: course packages + jupyterhub, nbgitpuller
    proxy: Path         # configurable-http-proxy
    course_env: Path    # the course's environment (its kernel "cnn-course")

    @property
    def singleuser(self) -> Path:
        return self.python.parent / "jupyterhub-singleuser"


def _fingerprint() -> str:
    h = hashlib.sha256(f"{sys.prefix}\n{sys.version}\n".encode())
    for path in (REQUIREMENTS, ROOT / "constraints.txt", PROXY_PACKAGE / "package.json",
                 PROXY_PACKAGE / "package-lock.json"):
        h.update(path.read_bytes())
    return h.hexdigest()


def _run(cmd, what, **kw):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if proc.returncode != 0:
        raise Unavailable(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
                          + proc.stdout[-3000:])
    return proc.stdout


def prepare(cache: Path = CACHE) -> Tools:
    """Install the hub's packages and proxy into ``cache`` unless its stamp is up to date."""
    cache.mkdir(parents=True, exist_ok=True)
    venv, proxy_dir = cache / "venv", cache / "proxy"
    tools = Tools(python=venv / "bin" / "python",
                  proxy=proxy_dir / "node_modules" / ".bin" / "configurable-http-proxy",
                  course_env=Path(sys.prefix))
    stamp = cache / "installed"
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # a test and a benchmark may prepare at once
        if stamp.exists() and stamp.read_text() == _fingerprint() and tools.python.exists() \
                and tools.proxy.exists():
            return tools
        for tool in ("node", "npm"):
            if shutil.which(tool) is None:
                raise Unavailable(f"'{tool}' is not installed: JupyterHub's proxy, "
                                  "configurable-http-proxy, is a Node.js program from the npm registry "
                                  "(Debian: apt-get install nodejs npm)")
        began = time.perf_counter()
        _say(f"installing configurable-http-proxy (npm ci) into {proxy_dir}")
        shutil.rmtree(proxy_dir, ignore_errors=True)
        proxy_dir.mkdir()
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PROXY_PACKAGE / name, proxy_dir / name)
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], "npm ci", cwd=proxy_dir)
        _say(f"installing {REQUIREMENTS.relative_to(ROOT)} into {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
        site = Path(_run([str(tools.python), "-c",
                          "import sysconfig; print(sysconfig.get_paths()['purelib'])"], "sysconfig").strip())
        course_site = sysconfig.get_paths()["purelib"]
        # addsitedir (not a bare path) so that the course's own .pth files are read too
        (site / "cnn_course_env.pth").write_text(f"import site; site.addsitedir({course_site!r})\n")
        _run([str(tools.python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
              "--no-compile", "-r", str(REQUIREMENTS), "-c", str(ROOT / "constraints.txt")],
             "pip install")
        stamp.write_text(_fingerprint())
        _say(f"hub tools installed in {time.perf_counter() - began:.0f} s")
        return tools


# --- the course repository that the hand-out link pulls --------------------------------------

GIT = ["git", "-c", "user.name=Teacher", "-c", "user.email=teacher@example.org",
       "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def course_repo(dest: Path) -> Path:
    """A new git repository at ``dest`` (branch main) holding the working tree of the course as
    it is now: tracked files and new files that git does not ignore (so uncommitted work is what
    learners pull)."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, check=True, capture_output=True).stdout
    dest.mkdir(parents=True)
    for rel in filter(None, listing.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():                         # a tracked file deleted in the tree is skipped
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    subprocess.run(GIT + ["init", "-q", "-b", "main"], cwd=dest, check=True)
    commit(dest, "The course as handed out")
    return dest


def commit(repo: Path, message: str) -> None:
    subprocess.run(GIT + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(GIT + ["commit", "-q", "-m", message], cwd=repo, check=True)


def handout_link(hub_url: str, repo: str, notebook: str, branch: str = "main") -> str:
    """The nbgitpuller link a teacher hands out (deploy/README.md): pull ``repo`` into the
    learner's home and open ``notebook`` (a path inside the repository) in JupyterLab."""
    name = repo.rstrip("/").split("/")[-1].removesuffix(".git")
    query = urllib.parse.urlencode({"repo": repo, "urlpath": f"lab/tree/{name}/{notebook}",
                                    "branch": branch})
    return f"{hub_url}/hub/user-redirect/git-pull?{query}"


# --- the hub -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


TEST_CONFIG = """\
# Written by tests/hub/classroom.py: the deployment's config, then what a test changes.
c = get_config()  # noqa
load_subconfig({config!r})  # noqa

c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{work}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{work}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{work}/jupyterhub.pid"

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = False
c.Authenticator.allowed_users = set({learners!r})
c.Authenticator.admin_users = set()

c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = "{work}/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
# the server runs from the hub's environment, layered on the course's: JupyterLab's settings,
# extensions and files, and the cnn-course kernel, are those of the course's environment
c.Spawner.environment = dict(c.Spawner.environment, JUPYTER_PATH={course_env!r} + "/share/jupyter",
                             JUPYTER_CONFIG_PATH={course_env!r} + "/etc/jupyter",
                             JUPYTERLAB_DIR={course_env!r} + "/share/jupyter/lab")
c.Spawner.args = list(c.Spawner.args) + {extra_args!r}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.log_level = "INFO"

c.JupyterHub.services = list(c.JupyterHub.services) + [
    {{"name": "classroom-admin", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{
    "name": "classroom-admin", "services": ["classroom-admin"],
    "scopes": ["admin:users", "admin:servers", "list:users", "read:users", "tokens"]}}]
"""


class Hub:
    """A JupyterHub on 127.0.0.1 in folder ``work``; ``start()``, then ``stop()`` (idempotent)."""

    def __init__(self, tools: Tools, work: Path, learners, password=None):
        self.tools, self.work = tools, Path(work)
        self.learners = list(learners)
        self.password = password or secrets.token_urlsafe(12)
        self.admin_token = secrets.token_hex(24)
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = self.work / "jupyterhub.log"

    def start(self, timeout=120):
        import requests
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "home").mkdir(exist_ok=True)
        extra_args = ["--allow-root"] if os.geteuid() == 0 else []
        config = self.work / "jupyterhub_config.py"
        config.write_text(TEST_CONFIG.format(
            config=str(CONFIG), port=self.port, hub_port=self.hub_port, api_port=self.api_port,
            proxy=str(self.tools.proxy), work=self.work, password=self.password,
            learners=sorted(self.learners), singleuser=str(self.tools.singleuser),
            course_env=str(self.tools.course_env), extra_args=extra_args,
            admin_token=self.admin_token))
        env = dict(os.environ, CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(24),
                   COURSE_ENV=str(self.tools.course_env), COURSE_CLASS_LIST=str(self.work / "none"))
        env.pop("JUPYTERHUB_API_TOKEN", None)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(self.tools.python), "-m", "jupyterhub", "-f", str(config)],
                                     cwd=self.work, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"JupyterHub did not start (exit {self.proc.returncode}):\n"
                                   + self.log_text()[-4000:])
            time.sleep(0.3)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def admin(self, method, path, **kw):
        """A request to the hub's REST API with the admin service's token."""
        import requests
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kw)

    def home(self, name) -> Path:
        return self.work / "home" / name

    def processes(self):
        """The hub and every process under it (proxy, idle culler, servers, kernels)."""
        import psutil
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            hub = psutil.Process(self.proc.pid)
            return [hub] + hub.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def listening_ports(self) -> set[int]:
        import psutil
        ports = set()
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                ports |= {c.laddr.port for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        return ports

    def stop_servers(self, timeout=60):
        """Stop every learner's server through the REST API, as a teacher's admin page does."""
        users = self.admin("GET", "/users").json()
        for user in users:
            if user.get("server") or user.get("pending"):
                self.admin("DELETE", f"/users/{user['name']}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(u.get("server") or u.get("pending") for u in self.admin("GET", "/users").json()):
                return
            time.sleep(0.3)
        raise RuntimeError("servers still running after DELETE /users/NAME/server")

    def stop(self, timeout=60):
        """Stop the hub (SIGTERM: it stops the servers and the proxy, cleanup_servers); whatever
        is left after ``timeout`` is killed. Returns the processes that had to be killed."""
        import psutil
        if self.proc is None:
            return []
        family = self.processes()
        killed = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            killed.append(psutil.Process(self.proc.pid))
            self.proc.kill()
            self.proc.wait()
        gone, alive = psutil.wait_procs(family, timeout=10)
        # what is left: the hub's processes seen before, and any other in the hub's session
        # (start_new_session: every process it started, unless one left the session itself)
        left = {p.pid: p for p in alive}
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if p.pid != self.proc.pid and os.getsid(p.pid) == self.proc.pid:
                    left.setdefault(p.pid, p)
        for p in left.values():
            with contextlib.suppress(psutil.Error):
                if p.status() != psutil.STATUS_ZOMBIE:
                    killed.append(p)
                    p.kill()
        self.log.close()
        return killed


# --- a learner -------------------------------------------------------------------------------

def _sse(response):
    """The JSON events of an event stream (``data: {...}`` lines)."""
    for line in response.iter_lines(decode_unicode=True):
        if line and line.startswith("data:"):
            yield json.loads(line[5:].strip())


def _attr(html, name):
    m = re.search(rf'{name}="([^"]*)"', html)
    return urllib.parse.unquote(unescape(m.group(1))) if m else None


class Learner:
    """One learner with a browser-like session (cookies) on the hub."""

    def __init__(self, hub: Hub, name: str, password: str | None = None):
        import requests
        self.hub, self.name = hub, name
        self.password = hub.password if password is None else password
        self.http = requests.Session()
        self.token = None

    @property
    def server(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def login(self):
        """Fill in and send the hub's login form; return the response (a redirect when it worked)."""
        page = self.http.get(f"{self.hub.url}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
        data = {"username": self.name, "password": self.password}
        if xsrf:
            data["_xsrf"] = unescape(xsrf.group(1))
        return self.http.post(f"{self.hub.url}/hub/login", data=data, allow_redirects=False, timeout=60)

    def wait_for_spawn(self, timeout=180):
        """Follow the spawn's progress as the hub's spawn-pending page does (its event stream)."""
        url = f"{self.hub.url}/hub/api/users/{self.name}/server/progress"
        with self.http.get(url, stream=True, timeout=timeout,
                           headers={"Accept": "text/event-stream"}) as r:
            r.raise_for_status()
            for event in _sse(r):
                if event.get("ready"):
                    return event
                if event.get("failed"):
                    raise RuntimeError(f"spawn of {self.name} failed: {event}")
        raise RuntimeError(f"spawn progress of {self.name} ended without 'ready'")

    def follow(self, link, timeout=300):
        """Click the hand-out link: the hub starts the server if needed, nbgitpuller's page opens
        and its event stream pulls the repository. Returns (events, the page it sends the
        learner to, that page's response)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(link, timeout=120)
            r.raise_for_status()
            path = urllib.parse.urlparse(r.url).path
            if "/spawn-pending/" in path:
                self.wait_for_spawn(timeout=max(1, deadline - time.monotonic()))
                continue
            break
        if "git-pull" not in path or "data-repo" not in r.text:
            raise RuntimeError(f"the link led to {r.url} ({r.status_code}), not nbgitpuller's page")
        base = _attr(r.text, "data-base-url")
        params = {"_xsrf": _attr(r.text, "data-xsrf"), "repo": _attr(r.text, "data-repo"),
                  "targetpath": _attr(r.text, "data-targetpath")}
        if _attr(r.text, "data-branch"):
            params["branch"] = _attr(r.text, "data-branch")
        api = f"{self.hub.url}{base}git-pull/api?{urllib.parse.urlencode(params)}"
        events = []
        with self.http.get(api, stream=True, timeout=max(1, deadline - time.monotonic())) as s:
            s.raise_for_status()
            for event in _sse(s):
                events.append(event)
                if event.get("phase") in ("finished", "error"):
                    break
        landing = f"{self.hub.url}{base}{_attr(r.text, 'data-path')}"
        return events, landing, self.http.get(landing, timeout=60)

    def new_token(self, note="classroom test"):
        """An API token of this learner, made through the hub's REST API with the login cookie."""
        xsrf = self.http.cookies.get("_xsrf", path="/hub/")
        r = self.http.post(f"{self.hub.url}/hub/api/users/{self.name}/tokens",
                           json={"note": note, "expires_in": 3600},
                           headers={"X-XSRFToken": xsrf or "", "Referer": f"{self.hub.url}/hub/token"},
                           timeout=30)
        r.raise_for_status()
        self.token = r.json()["token"]
        return self.token

    def api(self, method, path, server=None, **kw):
        """A request to a single-user server's REST API (this learner's by default) with this
        learner's token."""
        import requests
        base = f"{self.hub.url}/user/{server or self.name}"
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{base}/api{path}", headers=headers, timeout=120, **kw)

    def open_notebook(self, path):
        """A session for a notebook, as JupyterLab opens one: its kernel starts with the kernel
        named in the notebook, in the notebook's folder. Returns the kernel's id."""
        r = self.api("POST", "/sessions", json={"path": path, "name": Path(path).name, "type": "notebook",
                                                 "kernel": {"name": KERNEL}})
        r.raise_for_status()
        return r.json()["kernel"]["id"]

    def kernel(self, kernel_id) -> "KernelChannel":
        return KernelChannel(self, kernel_id)


class CellError(AssertionError):
    pass


class KernelChannel:
    """The kernel websocket of a single-user server (/api/kernels/ID/channels)."""

    def __init__(self, learner: Learner, kernel_id: str):
        import websocket
        self.learner, self.kernel_id = learner, kernel_id
        url = f"ws://127.0.0.1:{learner.hub.port}/user/{learner.name}/api/kernels/{kernel_id}/channels"
        self.session = uuid.uuid4().hex
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {learner.token}"],
                                              timeout=600)

    def close(self):
        self.ws.close()

    def _receive(self) -> dict:
        """The next message. A message with binary buffers (a widget's) comes as one binary
        frame: the number of parts, their offsets (4-byte big-endian each), the JSON, buffers."""
        import websocket
        opcode, data = self.ws.recv_data()
        if opcode != websocket.ABNF.OPCODE_BINARY:
            return json.loads(data)
        parts = int.from_bytes(data[:4], "big")
        offsets = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(parts)] + [len(data)]
        return json.loads(data[offsets[0]:offsets[1]])

    def run(self, code, timeout=600) -> dict:
        """Run one cell; return {"stdout": text, "results": [text/plain ...], "seconds": wall}.
        Raise CellError with the traceback when the cell raises."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.learner.name, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3",
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out = {"stdout": "", "results": [], "error": None}
        began, deadline = time.perf_counter(), time.monotonic() + timeout
        replied = idle = False
        while not (replied and idle):
            self.ws.settimeout(max(1.0, deadline - time.monotonic()))
            msg = self._receive()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out["stdout"] += content["text"]
            elif kind in ("execute_result", "display_data"):
                out["results"].append(content["data"].get("text/plain", ""))
            elif kind == "error":
                out["error"] = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                replied = True
                if content["status"] != "ok" and out["error"] is None:
                    out["error"] = f"{content.get('ename')}: {content.get('evalue')}"
        out["seconds"] = time.perf_counter() - began
        if out["error"]:
            raise CellError(re.sub(r"\x1b\[[0-9;]*m", "", out["error"]))
        return out


def code_cells(notebook: dict) -> list[str]:
    """The non-empty code cells of a notebook (as JSON), in order."""
    cells = []
    for cell in notebook["cells"]:
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "code" and src.strip():
            cells.append(src)
    return cells
