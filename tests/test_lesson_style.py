"""Lesson style on every notebook (DESIGN.md, "Notebooks"): honest reading times, plain English.

For each notebook:
  time       the header says "About N minutes", and N is within 20 % of the course's estimate;
  length     the estimate is at most 50 minutes;
  sentences  markdown sentences average at most 18 words, and none is over 35;
  korean     every glossary term the lesson uses carries its Korean at its first use.
How words, sentences, exercises, explorers, run times and Korean terms are counted is written
once, in tools/lesson_stats.py (its docstring); `python tools/lesson_stats.py` prints the
numbers behind every check. The tests only read files (run times come from tests/cell_times.json).

Lessons not yet revised are named in KNOWN_EXCEPTIONS, check by check. An excused check must
still fail: when the lesson comes to pass it, the test fails and asks to remove the exception.
"""
import functools
import json
from pathlib import Path

import pytest

from load import module_from_path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


stats_tool = module_from_path("lesson_stats", "tools/lesson_stats.py")

TIME_TOLERANCE = 0.20
MAX_MINUTES = 50
MAX_AVERAGE_WORDS = 18
MAX_SENTENCE_WORDS = 35
CHECKS = {"time", "length", "sentences", "korean"}

# Lessons not yet revised, and the checks each fails (`python tools/lesson_stats.py` shows why).
# Remove a check as soon as its lesson passes it (the test says so).
KNOWN_EXCEPTIONS: dict[str, set[str]] = {
    # Empty: every lesson passes every check. A lesson that cannot yet goes here, check by check.
}


# --- the checks, on every notebook -----------------------------------------------------------

@functools.lru_cache(maxsize=None)
def lesson(path: Path):
    """The numbers of one notebook (tools/lesson_stats.py), measured once per test session."""
    return stats_tool.lesson_stats(path, run_times(), terms())


@functools.lru_cache(maxsize=None)
def terms():
    return stats_tool.glossary(ROOT / "notebooks")


@functools.lru_cache(maxsize=None)
def run_times():
    return stats_tool.load_cell_times(ROOT / "tests" / "cell_times.json")


def judge(name: str, check: str, problems: list[str]) -> None:
    """Fail on problems, unless the check is a known exception; then fail if there are none."""
    if check in KNOWN_EXCEPTIONS.get(name, set()):
        if problems:
            pytest.xfail(f"known exception: {'; '.join(problems)[:300]}")
        pytest.fail(f"{name} now passes the '{check}' check: remove the exception "
                    f"from KNOWN_EXCEPTIONS in tests/test_lesson_style.py")
    assert not problems, f"{name}: " + "; ".join(problems)


def time_problems(s) -> list[str]:
    if s.stated is None:
        return ['the header does not say "About N minutes"']
    low, high = (1 - TIME_TOLERANCE) * s.estimate, (1 + TIME_TOLERANCE) * s.estimate
    if not low <= s.stated <= high:
        return [f"states {s.stated} min, but the estimate is {s.estimate:.0f} min "
                f"({s.words} words, {s.code_cells} code cells, {s.runtime_extra:.1f} min more run time, "
                f"{s.exercises} exercises, {s.explorers} explorers): say {low:.0f} to {high:.0f}"]
    return []


def length_problems(s) -> list[str]:
    if s.estimate > MAX_MINUTES:
        return [f"estimated at {s.estimate:.0f} minutes, over {MAX_MINUTES}: split the lesson or cut it"]
    return []


def sentence_problems(s) -> list[str]:
    out = []
    if s.average_sentence > MAX_AVERAGE_WORDS:
        out.append(f"sentences average {s.average_sentence:.2f} words, over {MAX_AVERAGE_WORDS}")
    long = sorted(((stats_tool.count_words(x), stats_tool.show(x)) for x in s.sentences), reverse=True)
    long = [(n, text) for n, text in long if n > MAX_SENTENCE_WORDS]
    if long:
        out.append(f"{len(long)} sentence(s) over {MAX_SENTENCE_WORDS} words, the longest: "
                   + " | ".join(f"({n}) {text}" for n, text in long[:3]))
    return out


def korean_problems(s) -> list[str]:
    if s.name == stats_tool.GLOSSARY_NOTEBOOK:  # it holds the glossary: check that it can be read
        read = terms()
        out = [f"only {len(read)} glossary terms could be read"] if len(read) < 20 else []
        bad = [t.name for t in read if not t.korean_words]
        return out + ([f"glossary terms without Korean: {bad}"] if bad else [])
    return [f"no Korean at the first use of: {', '.join(s.korean_missing)}"] if s.korean_missing else []


CHECK_PROBLEMS = {"time": time_problems, "length": length_problems,
                  "sentences": sentence_problems, "korean": korean_problems}


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_style(path, check):
    judge(path.name, check, CHECK_PROBLEMS[check](lesson(path)))


def test_an_excused_check_must_still_fail(monkeypatch):
    monkeypatch.setitem(KNOWN_EXCEPTIONS, "99_made_up.ipynb", {"time"})
    with pytest.raises(pytest.xfail.Exception):
        judge("99_made_up.ipynb", "time", ["states 10 min, the estimate is 30"])
    with pytest.raises(pytest.fail.Exception, match="remove the exception"):
        judge("99_made_up.ipynb", "time", [])
    with pytest.raises(AssertionError, match="too long"):
        judge("99_made_up.ipynb", "sentences", ["too long"])
    judge("99_made_up.ipynb", "sentences", [])


def test_known_exceptions_name_real_notebooks_and_checks():
    names = {p.name for p in NOTEBOOKS}
    for name, checks in KNOWN_EXCEPTIONS.items():
        assert name in names, f"KNOWN_EXCEPTIONS names {name}, which is not in notebooks/"
        assert checks and checks <= CHECKS, f"KNOWN_EXCEPTIONS[{name!r}] = {checks}: checks are {CHECKS}"


def test_cell_times_file_is_readable_and_names_real_notebooks():
    path = ROOT / "tests" / "cell_times.json"
    if not path.exists():
        pytest.skip("no measured run times yet: python tools/lesson_stats.py --measure")
    doc = json.loads(path.read_text(encoding="utf-8"))
    names = {p.name for p in NOTEBOOKS}
    for name, entry in doc["notebooks"].items():
        assert name in names, f"cell_times.json has {name}, which is not in notebooks/"
        assert all(c["seconds"] >= 0 and len(c["sha1"]) == 40 for c in entry["cells"])


# --- the measuring itself, on made-up markdown -----------------------------------------------

words, sentences = stats_tool.count_words, stats_tool.sentences


def reading_words(md):
    return sum(words(s) for s in sentences(md))


def test_words_leave_out_code_formulas_tables_links_and_html():
    assert reading_words("Three plain words") == 3
    assert reading_words("Call `conv2d(x, w)` now, with $N + 2p - k$ rows.") == 4
    assert reading_words("Before.\n\n```python\nx = 1  # many words in a comment\n```\n\nAfter.") == 2
    assert reading_words("The sum\n\n$$\\sum_i x_i w_i + b$$\n\nis one number.") == 5
    assert reading_words("| a | table row |\n|---|---|\n| with | words |\n\nOne line.") == 2
    assert reading_words("See [lesson 03](03_padding_stride.ipynb) or https://example.org/a/b here.") == 5
    assert reading_words("<details><summary>Open</summary>Hidden text</details>") == 3
    assert reading_words("A **bold** and *slanted* 5×5 cross-correlation (교차 상관) -> done") == 9


def test_sentences_split_at_full_stops_but_not_at_abbreviations_or_numbers():
    assert sentences("One two. Three four? Five six! Seven.") == ["One two.", "Three four?", "Five six!", "Seven."]
    assert len(sentences("Use a filter, e.g. Sobel, on it. Then look.")) == 2
    assert len(sentences("Activations, i.e. ReLU outputs, vs. Tanh ones, cf. Fig. 3 below.")) == 1
    assert len(sentences("The rate is 0.5 here and 3.14 there. Next one.")) == 2
    assert len(sentences("it ends. lower case does not start a sentence")) == 1
    assert len(sentences("The output is `y`. `y` has two rows.")) == 2
    assert len(sentences('He said "stop." Then it stopped.')) == 2
    assert len(sentences("One line\nbroken over two. Second.")) == 2


def test_headings_and_list_items_are_sentences_of_their_own():
    md = "## What you will learn\n\n- one thing;\n- another thing, over\n  two lines;\n1. a numbered item\n\nText."
    assert sentences(md) == ["What you will learn", "one thing;", "another thing, over two lines;",
                             "a numbered item", "Text."]
    assert sentences("**Bold label**\n- item") == ["Bold label", "item"]
    assert sentences("Above.\n\n---\n\n> A quote. Two.") == ["Above.", "A quote.", "Two."]


def test_stated_time_is_read_from_about_n_minutes_in_the_header():
    said = stats_tool.stated_minutes
    assert said("What you need first: lesson 01. About 30 minutes.") == 30
    assert said("**Time:** about 40 minutes. Running every cell takes a few minutes.") == 40
    assert said("Each one takes 15 to 40 minutes.") is None
    assert said("About forty minutes.") is None
    nb = {"cells": [{"cell_type": "markdown", "source": "# Title\n"},
                    {"cell_type": "markdown", "source": ["About 25 ", "minutes."]},
                    {"cell_type": "code", "source": "x = 1"},
                    {"cell_type": "markdown", "source": "About 99 minutes."}]}
    assert said(stats_tool.header(nb)) == 25
    assert said(stats_tool.header({"cells": nb["cells"][2:]})) is None


def test_exercises_and_explorers_are_detected_in_code_cells():
    assert stats_tool.is_exercise("answer = None  # your code here\ncheck(answer)")
    assert stats_tool.is_exercise("def f(x):\n    # Your code here: return ...\n    return None")
    assert not stats_tool.is_exercise("check(answer)")
    shown = stats_tool.explorers_shown
    assert shown("explorer = filter_explorer(photo)\nexplorer") == 1
    assert shown("stepper = conv_stepper(image, kernel)\nstepper") == 1
    assert shown("from helpers.widgets.saliency import saliency_explorer\nsaliency_explorer(m, x, y, names)") == 1
    assert shown("ex = feature_map_explorer(\n    models, images,\n    labels)\nex") == 1
    assert shown("w = output_size_explorer(n=7)\ndisplay(w)\nprint('more')") == 1
    assert shown("ex = output_size_explorer(n=7)\nex.controls['n'].value = 9\nassert ex.state") == 0  # timed, not shown
    assert shown("from helpers.widgets.output_size import output_size_explorer") == 0
    assert shown("# filter_explorer(photo) would show it\nx = 1") == 0


def notebook(tmp_path, cells) -> Path:
    path = tmp_path / "99_made_up.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": kind, "source": src} for kind, src in cells]}))
    return path


def test_estimate_adds_reading_code_cells_run_times_exercises_and_explorers(tmp_path):
    text = " ".join(["word"] * 149) + " end."                                  # 150 words: 1 minute
    exercise = "answer = None  # your code here\ncheck(answer)"                # 1 + 5 minutes
    explorer = "ex = output_size_explorer()\nex"                               # 1 + 3 minutes
    training = "fit(model)"                                                     # measured 180 s: 3 minutes
    path = notebook(tmp_path, [("markdown", "About 12 minutes.\n\n" + text), ("code", exercise),
                               ("code", explorer), ("code", training), ("code", "  \n")])
    times = {path.name: {stats_tool.cell_key(training): 180.0, stats_tool.cell_key("gone"): 999.0}}
    s = stats_tool.lesson_stats(path, times, terms=[])
    assert (s.words, s.code_cells, s.exercises, s.explorers, s.measured_cells) == (153, 3, 1, 1, 1)
    assert s.runtime_extra == pytest.approx(2.0)
    assert s.estimate == pytest.approx(153 / 150 + 3 + 2 + 5 + 3)
    assert s.stated == 12 and not time_problems(s)        # 12 is within 20 % of 14.0
    s.stated = 11
    assert time_problems(s)                               # 11 is not
    unmeasured = stats_tool.lesson_stats(path, {}, terms=[])
    assert unmeasured.estimate == pytest.approx(s.estimate - 2)  # no run times: 1 minute a cell


def test_cell_times_are_read_by_each_cells_source_hash(tmp_path):
    path = tmp_path / "cell_times.json"
    path.write_text(json.dumps({"notebooks": {"01_x.ipynb": {"cells": [
        {"cell": 3, "sha1": stats_tool.cell_key("fit()"), "seconds": 95.5}]}}}))
    assert stats_tool.load_cell_times(path) == {"01_x.ipynb": {stats_tool.cell_key("fit()"): 95.5}}
    assert stats_tool.load_cell_times(tmp_path / "none.json") == {}


GLOSSARY = """## Glossary (용어집)

| English | 한국어 | meaning |
|---|---|---|
| padding | 패딩 | a border |
| stride | 스트라이드 (보폭) | the step |
| channel | 채널 | one slice |
| pooling | 풀링 | max or mean |
| weight / bias | 가중치 / 편향 | learned numbers |
| batch | 배치 | a group |
| batch normalization | 배치 정규화 | normalising |
| feature map | 특성 맵 (피처 맵) | an output |
| fully connected (dense) layer | 완전 연결 계층 (밀집층) | all to all |

## Next section

| not | a term |
"""


def missing(md):
    return stats_tool.korean_problems(md, stats_tool.parse_glossary(GLOSSARY))


def test_glossary_rows_give_terms_their_forms_and_korean_words():
    terms = {t.name: t for t in stats_tool.parse_glossary(GLOSSARY)}
    assert len(terms) == 10 and "not" not in terms
    assert terms["weight"].korean_words == ("가중치",) and terms["bias"].korean_words == ("편향",)
    assert terms["stride"].korean_words == ("스트라이드", "보폭")
    assert {"fully connected layer", "dense layer"} <= set(terms["fully connected (dense) layer"].forms)


def test_the_real_glossary_is_read_from_lesson_00():
    terms = {t.name: t for t in stats_tool.glossary(ROOT / "notebooks")}
    assert len(terms) >= 30
    assert terms["convolution"].korean_words == ("합성곱", "컨볼루션")
    assert terms["weight"].korean_words == ("가중치",) and terms["epoch"].korean_words == ("에폭",)
    assert "residual connection" in terms["skip (residual) connection"].forms


def test_korean_is_needed_right_after_a_terms_first_use():
    assert missing("**Padding** (패딩) adds a border. Then padding again, plain.") == []
    assert missing("Padding adds a border. Padding (패딩) again.") == ["padding"]
    assert missing("Weights and biases (가중치, 편향) are learned.") == []
    assert missing("Strides (스트라이드) and channels (채널).") == []          # plurals
    assert missing("The stride " + "x" * 70 + " (스트라이드)") == ["stride"]     # too far
    assert missing("A feature map (특징 맵) again.") == ["feature map (has 특징; glossary: 특성 맵 (피처 맵))"]


def test_a_neighbours_korean_does_not_count():
    assert missing("Padding and stride, channels, pooling (풀링).") == [
        "padding (has 풀링; glossary: 패딩)", "stride (has 풀링; glossary: 스트라이드 (보폭))",
        "channel (has 풀링; glossary: 채널)"]


def test_what_is_not_a_first_use_code_links_plain_headings_and_longer_terms():
    assert missing("Set `padding=1`, then padding (패딩) adds a border.") == []
    assert missing("Next: [03 Padding](03_padding_stride.ipynb)\n\nPadding (패딩) adds.") == []
    assert missing("# Padding\n\nPadding (패딩) adds a border.") == []
    assert missing("# Padding (패딩)\n\nPadding adds a border.") == []
    assert missing("Batch normalization (배치 정규화) helps. A batch is 32 images.") == ["batch"]
    assert missing("A dense layer throws the positions away.") == ["fully connected (dense) layer"]
    assert missing("A dense layer (완전 연결 계층, 밀집층).") == []
    assert missing("| padding | 패딩 |\n|---|---|\n\nPadding adds a border.") == []  # a term table
    assert missing("| padding | 1 |\n|---|---|\n\nPadding adds a border.") == ["padding"]
