"""House rules that a machine can check: pins, notebook names, stripped notebooks, collection."""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)")


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_environment_yml_matches_requirements():
    req, env = pins(ROOT / "requirements.txt"), pins(ROOT / "environment.yml")
    assert req, "requirements.txt pins nothing"
    assert req == env, f"requirements.txt and environment.yml drift apart: {set(req.items()) ^ set(env.items())}"


def test_constraints_agree_with_requirements():
    req, lock = pins(ROOT / "requirements.txt"), pins(ROOT / "constraints.txt")
    for name, version in req.items():
        assert lock.get(name) == version, f"constraints.txt has {name}=={lock.get(name)}, requirements.txt {version}"


def test_notebook_names_follow_NN_topic_without_gaps():
    assert NOTEBOOKS, "no notebooks found"
    numbers = []
    for nb in NOTEBOOKS:
        m = re.fullmatch(r"(\d\d)_[a-z0-9_]+\.ipynb", nb.name)
        assert m, f"{nb.name} does not follow NN_topic.ipynb (two digits, underscore, lower-case topic)"
        numbers.append(int(m.group(1)))
    assert numbers == list(range(len(numbers))), f"notebook numbers have gaps or repeats: {numbers}"


def test_notebooks_are_committed_stripped_and_portable():
    for nb in NOTEBOOKS:
        doc = json.loads(nb.read_text(encoding="utf-8"))
        for i, cell in enumerate(doc["cells"]):
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [], f"{nb.name} cell {i} has outputs: strip them"
                assert cell.get("execution_count") is None, f"{nb.name} cell {i} has an execution count"
        text = nb.read_text(encoding="utf-8")
        assert not re.search(r"/(work|tmp|root|home)/[A-Za-z]", text), f"{nb.name} holds a machine path"
        assert doc["metadata"].get("kernelspec", {}).get("name") == "cnn-course", f"{nb.name}: kernel is not cnn-course"


def test_every_notebook_is_collected_by_pytest():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.name}::" in out.stdout, f"{nb.name} is not collected by nbval"


def test_readme_syllabus_links_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for nb in NOTEBOOKS:
        assert f"(notebooks/{nb.name})" in readme, f"README's syllabus does not link {nb.name}"


def test_notebooks_link_their_neighbours():
    for i, nb in enumerate(NOTEBOOKS):
        text = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown")
        if i + 1 < len(NOTEBOOKS):
            assert f"({NOTEBOOKS[i + 1].name})" in text, f"{nb.name} does not link the next notebook"
        if i > 0:
            assert f"({NOTEBOOKS[i - 1].name})" in text, f"{nb.name} does not link the previous notebook"


LESSON_LINK = re.compile(r"\[(?:← )?(\d\d) ([^\]]+?)(?: →)?\]\((?:notebooks/)?(\d\d_[a-z0-9_]+\.ipynb)\)")


def lesson_title(nb: Path) -> str:
    """The title of a lesson: its first heading after "NN · ", without a trailing "(Korean)"."""
    first = "".join(json.loads(nb.read_text())["cells"][0]["source"]).splitlines()[0]
    title = re.sub(r"^# \d\d · ", "", first)
    title = re.sub(r"\s*\([^)]*[\uac00-\ud7a3][^)]*\)$", "", title)
    return re.sub(r"\s*\(optional\)$", "", title).strip()


def test_links_to_a_lesson_use_its_title():
    """In the navigation lines ("[← 11 ...] · [Course overview] · [13 ... →]") and in the syllabi
    of the README and of 00, a lesson is named by its title, or the part of it before a colon.
    (Running text may shorten it: "[07 im2col](07_im2col.ipynb)".)"""
    titles = {nb.name: lesson_title(nb) for nb in NOTEBOOKS}
    sources = [(nb.name, "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                                 if c["cell_type"] == "markdown")) for nb in NOTEBOOKS]
    sources.append(("README.md", (ROOT / "README.md").read_text(encoding="utf-8")))
    wrong = []
    for where, text in sources:
        nav = "\n".join(line for line in text.splitlines() if "[Course overview]" in line)
        for number, words, target in LESSON_LINK.findall(nav):
            title = titles.get(target)
            words = re.sub(r" \(optional\)$", "", words)
            assert title is not None, f"{where} links {target}, which does not exist"
            if not target.startswith(number) or words not in (title, title.split(":")[0]):
                wrong.append(f"{where}: [{number} {words}]({target}), title {title!r}")
    # the syllabi name lessons without their number: "| 12 | [Training a CNN from scratch](...) |"
    for where, text in sources[:1] + sources[-1:]:
        for words, target in re.findall(r"^\| \d\d \| \[([^\]]+)\]\((?:notebooks/)?(\d\d_[a-z0-9_]+\.ipynb)\)",
                                        text, flags=re.M):
            if words not in (titles[target], titles[target].split(":")[0]):
                wrong.append(f"{where} syllabus: [{words}]({target}), title {titles[target]!r}")
    assert not wrong, "links whose text is not the lesson's title:\n" + "\n".join(wrong)


def test_ci_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "python3 course.py test" in ci and "python3 course.py test" in readme


def test_teaching_guide_names_real_solutions_and_every_lesson():
    from helpers.exercises import _SOLUTIONS, _load_all
    _load_all()
    guide = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    named = set(re.findall(r'solution\("(\w+)"\)', guide)) - {"name"}
    assert named, "the guide names no solutions"
    assert named <= set(_SOLUTIONS), f"the guide names unknown solutions: {named - set(_SOLUTIONS)}"
    for nb in NOTEBOOKS:
        assert f"### {nb.name[:2]} ·" in guide, f"the teacher's guide has no section for {nb.name}"


def test_nbval_cells_wait_longer_for_output_than_nbvals_fixed_5_s():
    import inspect
    from types import SimpleNamespace

    import nbval.plugin
    from load import module_from_path
    conftest = module_from_path("root_conftest", "conftest.py")
    # nbval still reads the attribute that conftest raises (a rename would silently undo it)
    assert "self.output_timeout" in inspect.getsource(nbval.plugin.IPyNbCell.runtest)
    def item(nodeid, marker=None, **kw):
        return SimpleNamespace(nodeid=nodeid, get_closest_marker=lambda name: name == marker or None, **kw)
    cell = item("notebooks/14_visualizing.ipynb::Cell 4", output_timeout=5)
    unit = item("tests/test_conv.py::test_output_size")
    late = item("tests/test_preprocess.py::test_round_trip", marker="after_notebooks")
    browser = item("tests/browser/test_own_input.py::test_draw")
    items = [browser, late, cell, unit]
    conftest.pytest_collection_modifyitems(None, None, items)
    assert cell.output_timeout == conftest.OUTPUT_TIMEOUT >= 30
    assert not hasattr(unit, "output_timeout")
    # unit tests, the notebooks, the tests that use lesson 12's saved weights, the browser tests
    assert items == [unit, cell, late, browser]
