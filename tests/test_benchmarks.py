"""benchmarks/: report.write_section (the scripts' --docs), and bench_conv.py --quick --docs end to end."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from load import module_from_path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

report = module_from_path("bench_report", "benchmarks/report.py")

DOC = """# Performance

Intro.

<!-- bench_conv:begin -->
old table
| a | b |
<!-- bench_conv:end -->

Between.

<!-- bench_train:begin -->
train table
<!-- bench_train:end -->

End.
"""


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "performance.md"
    path.write_text(DOC)
    return path


def test_write_section_replaces_only_between_its_markers(doc):
    report.write_section("bench_conv", "| x | y |\n|---|---|\n| 1 | 2 |\n", doc)
    assert doc.read_text() == DOC.replace("old table\n| a | b |\n", "| x | y |\n|---|---|\n| 1 | 2 |\n")
    report.write_section("bench_train", "new train table", doc)
    text = doc.read_text()
    assert "train table\n" not in text.replace("new train table\n", "")
    assert text.startswith("# Performance\n\nIntro.\n\n<!-- bench_conv:begin -->\n| x | y |")
    assert text.endswith("<!-- bench_train:begin -->\nnew train table\n<!-- bench_train:end -->\n\nEnd.\n")


def test_write_section_is_idempotent_and_never_appends(doc):
    report.write_section("bench_conv", "first run", doc)
    report.write_section("bench_conv", "second run\nwith two lines", doc)
    once = doc.read_text()
    report.write_section("bench_conv", "second run\nwith two lines", doc)
    assert doc.read_text() == once
    assert once.count("<!-- bench_conv:begin -->") == once.count("<!-- bench_conv:end -->") == 1
    assert "first run" not in once and once.count("second run") == 1
    assert len(once.splitlines()) == len(DOC.splitlines())      # 2 lines out, 2 lines in
    assert not [p for p in doc.parent.iterdir() if p != doc]     # no temporary file left behind


@pytest.mark.parametrize("text, problem", [
    (DOC.replace("<!-- bench_conv:begin -->\n", ""), "no line(s) '<!-- bench_conv:begin -->'"),
    (DOC.replace("<!-- bench_conv:end -->\n", ""), "no line(s) '<!-- bench_conv:end -->'"),
    ("nothing here\n", "no line(s) '<!-- bench_conv:begin -->'"),
    (DOC + "<!-- bench_conv:end -->\n", "2 line(s) '<!-- bench_conv:end -->'"),
    ("<!-- bench_conv:end -->\nx\n<!-- bench_conv:begin -->\n", "comes before"),
])
def test_write_section_refuses_a_file_without_its_markers(tmp_path, text, problem):
    path = tmp_path / "performance.md"
    path.write_text(text)
    for call in (lambda: report.write_section("bench_conv", "table", path),
                 lambda: report.check_section("bench_conv", path)):
        with pytest.raises(ValueError) as exc:
            call()
        assert problem in str(exc.value) and str(path) in str(exc.value)
    assert path.read_text() == text                              # left as it was


def test_write_section_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.write_section("bench_conv", "table", tmp_path / "performance.md")
    assert not (tmp_path / "performance.md").exists()


def test_command_drops_docs_and_keeps_the_rest(monkeypatch):
    for var in report.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    script = str(BENCH / "bench_conv.py")
    for argv in ([script, "--quick", "--docs", "/tmp/x.md", "--threads", "1"],
                 [script, "--quick", "--docs", "--threads", "1"],
                 [script, "--docs=/tmp/x.md", "--quick", "--threads", "1"],
                 [script, "--quick", "--threads", "1", "--docs"]):
        cmd = report.command(argv)
        assert cmd.endswith(" benchmarks/bench_conv.py --quick --threads 1"), cmd
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert report.command([script]).startswith("OMP_WAIT_POLICY=PASSIVE ")


def test_bench_conv_quick_writes_its_table_between_the_markers(doc):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(BENCH / "bench_conv.py"), "--quick", "--threads", "1",
                           "--docs", str(doc)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = doc.read_text()
    section = text.split("<!-- bench_conv:begin -->\n")[1].split("<!-- bench_conv:end -->")[0]
    assert text.replace(section, "old table\n| a | b |\n") == DOC    # nothing else changed
    assert re.match(r"Latest run: \d{4}-\d\d-\d\d \d\d:\d\d UTC, on: .+\n", section), section
    assert "NumPy" in section.splitlines()[0]
    assert "benchmarks/bench_conv.py --quick --threads 1`" in section and str(doc) not in section
    table = [line for line in section.splitlines() if line.startswith("|")]
    assert table[0].startswith("| shape (forward + backward, float32 inputs) | loops ms* | textbook ms")
    assert table[1].startswith("|---|") and len(table) == 3 and table[2].startswith("| (q) N=4 C=3 12x12")
    # the table printed on stdout is the one written
    assert "\n".join(table) in proc.stdout
