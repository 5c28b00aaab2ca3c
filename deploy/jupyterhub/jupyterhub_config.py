"""JupyterHub for a class on one shared Linux server: every learner gets their own JupyterLab and
kernels, with the course's environment and the course kernel "cnn-course".

    cd /srv/jupyterhub    # the hub keeps its database and cookie secret in its working folder
    sudo COURSE_ENV=/opt/cnn-course/.venv COURSE_TEACHERS=kim \\
        /opt/cnn-course/.venv/bin/jupyterhub -f /opt/cnn-course/deploy/jupyterhub/jupyterhub_config.py

deploy/README.md says how to make COURSE_ENV (the course's .venv with
deploy/jupyterhub/requirements.txt added) and the proxy. Settings from the environment:

COURSE_ENV        the course's Python environment (default: the one running the hub)
COURSE_TEACHERS   comma-separated user names who are hub admins (start, stop, look at servers)
COURSE_CLASS_LIST a file with one learner user name a line; only those (and the teachers) may
                  log in. Without the file, every account of the server may log in.
HUB_BIND_URL      where the hub listens (default http://:8000; put HTTPS in front of it)

Learners log in with their account on the server (PAM), and each server runs as its learner's
own Unix user (LocalProcessSpawner) in their home folder. Where the package
jupyterhub-systemdspawner is installed, its SystemdSpawner is used instead: it enforces the
memory and CPU limits below with cgroups, as The Littlest JupyterHub does. LocalProcessSpawner
only passes them to the server as MEM_LIMIT and CPU_LIMIT, without enforcing them.

The limits per learner come from benchmarks/bench_lessons.py (docs/performance.md, "Per-learner
budget"): the peak memory of each lesson's kernel and its time on one core and on two.
tests/test_jupyterhub.py runs a real hub with this file (its own authenticator and spawner on
top), and checks that deploy/jupyterhub/values.yaml asks for the same limits.
"""
import importlib.util
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (JupyterHub's config loader provides get_config)

COURSE_ENV = Path(os.environ.get("COURSE_ENV", sys.prefix))
KERNEL = "cnn-course"

# --- per learner: from the measurements (docs/performance.md, "bench_lessons" and "bench_hub") -
# Measured on 2026-12-06 (a shared 2-core machine): the largest kernel peak of any lesson is
# lesson 18's, 1413 MiB (12: 951, 11: 860, 15: 843, 14: 841, 13: 840; the others 110-261 MiB); a
# learner's single-user server takes 144 MiB; the most CPU a lesson's kernel uses is lesson
# 12's, 157-217 s held to one core (351 s with two), spread over a lesson of about 50 minutes.
#: Memory a learner's server may use at most: a lesson's kernel within the course's 2 GiB budget
#: (Binder's usual limit), the server (144 MiB) and a second kernel left open (up to 235 MiB
#: after a light lesson).
MEM_LIMIT = "2560M"
#: Memory reserved for each learner: the largest kernel peak (1413 MiB) plus the server, so a
#: class that runs lesson 18 at the same moment still fits.
MEM_GUARANTEE = "1600M"
#: Cores: one at most, and a quarter of one guaranteed (about 2.5 times the heaviest lesson's CPU
#: spread over 50 minutes). Kernels run their BLAS (and so helpers' engine) in one thread
#: (BLAS_THREADS): where other work shares the cores, as on a class's server, two threads
#: cost far more CPU for the same lesson. Measured with other processes on the 2 cores:
#: lesson 11 took 43-50 s of CPU with two threads and 14-16 s with one (20-23 s instead of
#: 62-67 s to run); lesson 12, 351 s with two and 157 s held to one core.
CPU_LIMIT = 1.0
CPU_GUARANTEE = 0.25
BLAS_THREADS = "1"
#: Idle culling: a kernel that ran nothing for this long is stopped (its memory comes back); a
#: server without activity for IDLE_SERVER_SECONDS is stopped by the hub's idle culler. Work is
#: saved in the learner's home, so nothing is lost but the kernel's state.
IDLE_KERNEL_SECONDS = 30 * 60
IDLE_SERVER_SECONDS = 60 * 60

c.JupyterHub.bind_url = os.environ.get("HUB_BIND_URL", "http://:8000")
c.JupyterHub.cleanup_servers = True          # stopping the hub stops every learner's server

teachers = {u.strip() for u in os.environ.get("COURSE_TEACHERS", "").split(",") if u.strip()}
c.Authenticator.admin_users = teachers
class_list = Path(os.environ.get("COURSE_CLASS_LIST", "/etc/jupyterhub/class.txt"))
if class_list.is_file():
    c.Authenticator.allowed_users = {line.strip() for line in class_list.read_text().splitlines()
                                     if line.strip() and not line.startswith("#")}
else:
    c.Authenticator.allow_all = True         # PAM: every account of this server

if importlib.util.find_spec("systemdspawner") is not None:
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True
    c.SystemdSpawner.default_shell = "/bin/bash"
else:
    c.JupyterHub.spawner_class = "localprocess"

c.Spawner.cmd = [str(COURSE_ENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = MEM_LIMIT
c.Spawner.mem_guarantee = MEM_GUARANTEE
c.Spawner.cpu_limit = CPU_LIMIT
c.Spawner.cpu_guarantee = CPU_GUARANTEE
c.Spawner.environment = {
    "NBGITPULLER_APP": "lab",                             # the hand-out link opens JupyterLab
    "JUPYTER_PATH": str(COURSE_ENV / "share" / "jupyter"),  # where the cnn-course kernel is registered
    "OPENBLAS_NUM_THREADS": BLAS_THREADS,
    "OMP_NUM_THREADS": BLAS_THREADS,
}
c.Spawner.args = [
    f"--MultiKernelManager.default_kernel_name={KERNEL}",
    f"--MappingKernelManager.cull_idle_timeout={IDLE_KERNEL_SECONDS}",
    "--MappingKernelManager.cull_interval=300",
]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60

# The idle culler (jupyterhub-idle-culler): a hub service that stops servers without activity.
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={IDLE_SERVER_SECONDS}", "--cull-every=300"],
}]
