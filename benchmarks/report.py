"""Writing a benchmark's latest result into docs/performance.md (the scripts' ``--docs`` option).

Each benchmark owns one section of that file, between two marker lines::

    <!-- bench_conv:begin -->
    ... replaced by every run with --docs ...
    <!-- bench_conv:end -->

``write_section`` replaces what stands between them (never appends a second copy, so writing
the same run twice leaves the file as it was after the first); ``run_markdown`` builds what a
run writes there: when it ran (UTC), the machine line, the command that reproduces it, the
table. It also holds ``peak_rss_bytes``, the process measure that bench_lessons and bench_hub
share. Standard library only: the scripts import it before NumPy.
"""
from __future__ import annotations

import datetime
import os
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The file that --docs writes to when no PATH is given.
DOCS = ROOT / "docs" / "performance.md"
#: Environment variables that change the figures and that the scripts do not set themselves
#: (docs/performance.md, "How to reproduce"); when set, the reproducing command names them.
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY")


def _markers(name):
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _locate(lines, name, path):
    """Indexes of the begin and end marker lines; ValueError unless each stands once, in order."""
    found = []
    for marker in _markers(name):
        at = [i for i, line in enumerate(lines) if line.strip() == marker]
        if len(at) != 1:
            begin, end = _markers(name)
            raise ValueError(f"{path} has {len(at) or 'no'} line(s) '{marker}'; the section "
                             f"{name!r} needs one line '{begin}' and, after it, one line '{end}'")
        found.append(at[0])
    if found[0] > found[1]:
        raise ValueError(f"{path}: '{_markers(name)[1]}' comes before '{_markers(name)[0]}'")
    return found


def _read(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: --docs writes only into an existing file "
                                f"that has the section's marker lines")
    return path, path.read_text(encoding="utf-8").splitlines(keepends=True)


def check_section(name, path=DOCS):
    """Raise (FileNotFoundError, ValueError) now if ``write_section(name, ..., path)`` would: a
    script checks before a long run, not after it."""
    path, lines = _read(path)
    _locate(lines, name, path)


def write_section(name, markdown, path=DOCS):
    """Replace everything between the lines ``<!-- {name}:begin -->`` and ``<!-- {name}:end -->``
    of ``path`` with ``markdown`` (the marker lines stay). FileNotFoundError when the file does
    not exist, ValueError when a marker is missing, doubled or out of order; the file is then
    left as it was. The new file is renamed into place, so a reader never sees half of it."""
    path, lines = _read(path)
    begin, end = _locate(lines, name, path)
    newline = "\r\n" if lines[begin].endswith("\r\n") else "\n"
    body = [line + newline for line in markdown.strip("\n").splitlines()]
    text = "".join(lines[:begin + 1] + body + lines[end:])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def parse_args(parser, name, quick_help, quick_defaults):
    """Add a script's --quick and --docs [PATH] options to ``parser`` and parse the command line.
    With --quick, ``quick_defaults`` replace the defaults (options given still win); with
    --docs, the section ``name`` is checked now (``check_section``), not after the run."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--docs", nargs="?", const=DOCS, default=None, metavar="PATH",
                        help=f"write the run's table between the {name} markers of PATH (without "
                             f"PATH: {DOCS.relative_to(ROOT)}); default: no file")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(**quick_defaults)
    args = parser.parse_args()
    if args.docs is not None:
        try:
            check_section(name, args.docs)
        except (OSError, ValueError) as exc:
            parser.error(f"--docs: {exc}")
    return args


def command(argv=None):
    """The command that reproduces this run, from the repository root: the Python and the
    script as run (relative to the root where they are inside it), its arguments without
    ``--docs [PATH]``, and the ENV_VARS that are set."""
    argv = list(sys.argv if argv is None else argv)
    args, i = [], 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--docs":                                   # --docs, or --docs PATH
            i += 2 if i + 1 < len(argv) and not argv[i + 1].startswith("-") else 1
            continue
        if not arg.startswith("--docs="):
            args.append(arg)
        i += 1

    def short(p):
        p = os.path.abspath(p)
        return os.path.relpath(p, ROOT) if p.startswith(str(ROOT) + os.sep) else p
    env = [f"{var}={os.environ[var]}" for var in ENV_VARS if var in os.environ]
    return shlex.join(env + [short(sys.executable), short(argv[0])] + args)


def now():
    """The current date and time in UTC, to the minute: '2026-12-05 18:30 UTC'."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_markdown(started, machine, table, argv=None):
    """What a run writes into its section: when it started (``now()``), the machine line
    (``helpers.perf.machine()``), the command (``command(argv)``), then ``table`` (Markdown)."""
    return (f"Latest run: {started}, on: {machine}\n\n"
            f"Command (from the repository root): `{command(argv)}`\n\n{table.strip()}\n")


def peak_rss_bytes(pid) -> int:
    """The peak resident memory of process ``pid`` so far (VmHWM in /proc), in bytes; 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
