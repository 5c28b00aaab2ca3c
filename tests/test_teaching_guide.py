"""The teacher's guide (docs/teaching.md): a section for every lesson, measured figures that only
tools/teaching_tables.py writes, answers that the course computes, and no statement known false.

The tests read files only: the tool's figures come from tests/cell_times.json and from the JSON
file of benchmarks/bench_lessons.py, never from a run here.
"""
import math
import re
from pathlib import Path

import numpy as np
import pytest

from load import module_from_path

ROOT = Path(__file__).resolve().parent.parent
GUIDE_PATH = ROOT / "docs" / "teaching.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


tool = module_from_path("teaching_tables", "tools/teaching_tables.py")
GUIDE = GUIDE_PATH.read_text(encoding="utf-8")


def section(number: str) -> str:
    """The text of lesson `number`'s section: from its heading to the next heading."""
    m = re.search(rf"(?ms)^### {number} ·.*?(?=^#{{2,3}} )", GUIDE + "\n## end")
    assert m, f"the teacher's guide has no section '### {number} · ...'"
    return m.group(0)


def items_after(text: str, label: str) -> list[str]:
    """The list items that follow the line holding `label`, each with its continuation lines."""
    start = text.index(label)
    lines = text[start:].splitlines()[1:]
    items = []
    for line in lines:
        if line.startswith("- "):
            items.append(line[2:])
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        else:
            break
    return items


# --- a section per lesson --------------------------------------------------------------------

@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_lesson_has_a_full_section(nb):
    text = section(nb.name[:2])
    assert tool.marker(f"time:{nb.name[:2]}") in text, f"{nb.name}: no generated **Time:** line"
    assert "**Ask** (each with its answer):" in text, f"{nb.name}: no Ask questions"
    asks = items_after(text, "**Ask** (each with its answer):")
    assert asks, f"{nb.name}: the Ask list is empty"
    for ask in asks:
        question, _, answer = ask.partition("*Answer:*")
        assert "?" in question and answer.split(), f"{nb.name}: an Ask without its answer: {ask[:80]}"
    assert items_after(text, "**Watch for:**"), f"{nb.name}: no 'Watch for' items"
    assert "**Plan:**" in text, f"{nb.name}: no plan"
    plan = " ".join(items_after(text, "**Plan:**"))
    for part in ("*50 minutes:*", "*90 minutes:*", "*Homework:*", "*Cut first:*"):
        assert part in plan, f"{nb.name}: the plan lacks {part}"


def test_every_section_is_a_lesson_that_exists():
    numbers = {nb.name[:2] for nb in NOTEBOOKS}
    for number in re.findall(r"(?m)^### (\d\d) ·", GUIDE):
        assert number in numbers, f"the guide has a section for lesson {number}, which has no notebook"


# --- the measured figures come from the tool -------------------------------------------------

def test_the_tables_are_what_the_tool_writes_for_the_current_files():
    rendered, missing = tool.render(GUIDE)
    assert not missing, f"the guide lacks the markers of {missing}"
    assert rendered == GUIDE, "docs/teaching.md is not up to date: run python tools/teaching_tables.py"


# A time or memory figure, such as "12 s", "3.5 min", "40 minutes", "512 MiB" or "2 GiB" (but not
# "s = 1": a stride).
FIGURE = re.compile(r"\b\d[\d.]*\s*(?:s|sec|seconds?|min|minutes?|hours?|ms|MiB|GiB|MB|GB|KiB)\b(?!\s*=)")
# What the guide may say outside the generated blocks: the course's estimate rule, and the lengths
# of the two classes it plans for (tool.CLASS_LENGTHS).
ALLOWED = ("5 minutes an exercise", "3 minutes an explorer", "150 a minute",
           *(f"*{n} minutes:*" for n in tool.CLASS_LENGTHS), *(f"{n}-minute" for n in tool.CLASS_LENGTHS))


def test_no_time_or_memory_figure_is_typed_by_hand():
    outside = GUIDE
    for name in re.findall(r"<!-- ([\w:-]+):start -->", GUIDE):
        outside = re.sub(re.escape(tool.marker(name)) + ".*?" + re.escape(tool.marker(name, end=True)),
                         " ", outside, flags=re.S)
    for phrase in ALLOWED:
        outside = outside.replace(phrase, " ")
    found = FIGURE.findall(outside)
    assert not found, f"figures typed by hand in docs/teaching.md (only the tool writes them): {found}"


def test_the_tool_formats_and_sizes_as_its_docstring_says(tmp_path):
    assert (tool.seconds(0.44), tool.seconds(12.3), tool.seconds(185)) == ("0.4 s", "12 s", "3.1 min")
    assert (tool.mib(700), tool.mib(1536), tool.mib(46080)) == ("700 MiB", "1.50 GiB", "45 GiB")
    assert (tool.cores(1), tool.cores(6), tool.cores(0.25)) == ("1 core", "6 cores", "0.25 of a core")
    assert tool.parse_quantity("2560M") == 2.56e9 and tool.parse_quantity("1Gi") == 2**30
    assert tool.parse_quantity("0.25") == 0.25 and tool.parse_quantity("500m") == 0.5
    heavy = tool.Lesson(number="12", name="12_x.ipynb", title="x", teach=50, code_cells=3, laptop_s=100.0,
                        laptop_cells=3, laptop_date="2026-12-06 18:00 UTC", one_core_s=150.0, two_core_s=100.0,
                        peak_mib=700.0)
    light = tool.Lesson(number="03", name="03_y.ipynb", title="y", teach=40, code_cells=2, laptop_s=2.0,
                        laptop_cells=2, laptop_date=None, one_core_s=3.0, two_core_s=2.0, peak_mib=300.0)
    s = tool.size_class([light, heavy], 30)
    # own pace: 30 x 150 s over 50 minutes = 1.5 cores; Run All of the light lesson: 30 x 3 s / 5 min
    assert s["cores"] == 2 and s["per_learner_mib"] == 768 and s["heaviest_peak"] is heavy
    assert [ld.lesson.number for ld in s["in_turns"]] == ["12"]          # 30 x 150 s / 2 cores > 5 min
    assert math.isclose([ld for ld in s["loads"] if ld.lesson is heavy][0].wait_s, 30 * 150 / 2)
    assert s["one_server"] and not tool.size_class([light, heavy], 200)["one_server"]
    heavy.cpu_s = 300.0                                                  # the kernel's CPU time wins
    assert heavy.work == (300.0, "CPU time") and light.work == (3.0, "1 core")
    assert [[le.number for le in group] for group in tool.term_plan([light, heavy], 50)] == [["03"], ["12"]]
    values = tmp_path / "values.yaml"
    values.write_text("singleuser:\n  memory: {guarantee: 1G, limit: 512M}\n  cpu: {guarantee: 0.25, limit: 2}\n")
    v = tool.load_values(values)
    assert v["mem_limit_text"] == "512M" and v["cpu_guarantee"] == 0.25
    text = "\n".join(tool._memory_lines(s, 30, v))
    assert "below the largest peak" in text                              # 512M < 700 MiB: flagged


# --- statements that were false --------------------------------------------------------------

def test_the_training_set_is_55000_images_not_all_60000():
    from helpers.exercises import lesson12
    assert "all 60,000 images" not in GUIDE
    n_train = 60_000 - lesson12.N_VAL
    assert n_train == 55_000 and f"{n_train:,}" in section("12") and f"{lesson12.N_VAL:,}" in section("12")


def test_the_guide_says_what_is_reproducible_and_when():
    lowered = " ".join(GUIDE.lower().split())
    assert "same numbers every time" not in lowered
    assert "what you project is what" not in lowered and "matches what learners see" not in lowered
    for needed in ("same library versions", "same number of cores", "another blas build", "last digits"):
        assert needed in lowered, f"the guide does not say: {needed}"


# --- answers the course computes -------------------------------------------------------------

def test_the_answers_agree_with_the_course():
    from helpers import conv
    from helpers.exercises import lesson03, lesson08

    image = np.array([[1, 0, 2, 3, 1], [0, 1, 3, 2, 0], [2, 3, 1, 0, 1], [1, 2, 0, 1, 3], [0, 1, 2, 3, 2]],
                     dtype=np.float32)                                  # lesson 01's worked example
    kernel = np.array([[2, 0], [1, -1]], dtype=np.float32)
    fmap = conv.conv2d(image[None, None], kernel[None, None])[0, 0]
    assert fmap[1, 3] == 3 and "*Answer:* 3." in section("01")
    assert lesson03.fitting_strides(7, 3) == [1, 2, 4] and "*Answer:* 1, 2 and 4" in section("04")
    assert lesson03.fitting_strides(7, 3, 1) == [1, 2, 3, 6] and "1, 2, 3 and 6" in section("04")
    assert lesson03.same_padding(5) == 2 and lesson03.same_padding(4) is None
    assert "*Answer:* p = 2" in section("03")
    pooled = conv.max_pool2d(np.asarray(lesson08.POOL_X, np.float32)[None, None], 2)[0, 0]
    assert str(pooled.astype(int).tolist()) in section("08")
    assert conv.output_size(55, 3, stride=2) == 27 and "*Answer:* 27" in section("08")
    assert f"{math.log(10):.3f}" in section("11")
    steps = math.ceil(55_000 / 64)
    assert f"{steps}" in section("11") and f"{55_000 - (steps - 1) * 64}" in section("11")
