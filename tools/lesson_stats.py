"""Lesson statistics: the reading time, the sentence lengths and the Korean terms of each notebook.

    python tools/lesson_stats.py              # a table for every notebook
    python tools/lesson_stats.py 03 04        # only the notebooks whose names start with these
    python tools/lesson_stats.py --measure    # run the notebooks, record each code cell's run time

DESIGN.md ("Notebooks") sets the rules; tests/test_lesson_style.py checks them with this module.
Everything below is measured on a lesson's markdown cells, except where it says "code cell".

Prose. The words a reader reads are what is left of the markdown after removing fenced code
blocks, inline `code`, LaTeX ($...$ and $$...$$), table lines (lines that start with "|"),
images, link targets (the text of [text](target) stays), bare URLs, HTML tags and comments, and
the markup itself (#, *, _, list markers, ">"). A word is a whitespace-separated token with at
least one letter or digit, in any script: "5x5", "cross-correlation" and "패딩" are one word
each; "=", "->" and the removed code are none.

Sentences. The prose is cut into blocks: a heading, a list item (with its continuation lines), a
paragraph. A heading is one sentence. A list item and a paragraph are cut after ".", "?" or "!"
(and any closing quote or bracket) when whitespace and then a capital letter (or code) follow.
These do not end a sentence: the abbreviations in ABBREVIATIONS (e.g., i.e., vs., ...), and
numbers such as 0.5 (no space follows the dot). A sentence's length is its number of words; the
average is the lesson's words divided by its sentences.

Reading time, in minutes:
    words / 150
  + for each non-empty code cell: 1, or its run time in minutes when that is longer
  + 5 for each exercise: a code cell containing "# your code here"
  + 3 for each explorer: a code cell that calls a function whose name ends in "_explorer" or
    "_stepper" (helpers.widgets: filter_explorer(...), conv_stepper(...), ...) and shows the
    result: the call, or the name it is assigned to, is the cell's last statement, or goes to
    display(...). An explorer built only to be timed or tested is not one a learner plays with.
Run times come from tests/cell_times.json, written by --measure. A code cell is matched by the
SHA-1 of its source, so a cell edited since the measurement counts 1 minute until the next one.

Stated time. The header is the run of markdown cells before the first code cell; it must say
"About N minutes" (any case, so "**Time:** about 40 minutes." also counts). The first such
phrase is the stated time.

Korean terms. The glossary is the table under "Glossary (용어집)" in 00_welcome.ipynb
(English | 한국어 | meaning). Each English cell gives one or more terms: "weight / bias" gives
two, paired with "가중치 / 편향"; "fully connected (dense) layer" gives "fully connected layer"
and "dense layer"; EXTRA_FORMS adds spellings and forms the lessons use. A term matches
case-insensitively at word boundaries, with an optional plural "s"/"es"; where two terms
overlap ("batch" in "batch normalization"), the longer one is the use. A term's first use in
a lesson must be followed, within KOREAN_WINDOW (60) characters of the same sentence, by one of its
glossary Korean words (a Hangul run of 2 or more letters from its 한국어 cell; "합성곱 (컨볼루션)"
gives 합성곱 and 컨볼루션). Not a first use: a term inside link text (the navigation
"Next: 02 Padding, stride..." names another lesson), and a heading that has no Korean (the text
under it introduces the term). A table row that holds Hangul (a lesson's own term table) does
count. 00_welcome, which holds the glossary, introduces every term.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMES = ROOT / "tests" / "cell_times.json"
GLOSSARY_NOTEBOOK = "00_welcome.ipynb"
KERNEL = "cnn-course"

WORDS_PER_MINUTE = 150
MINUTES_PER_CODE_CELL = 1
MINUTES_PER_EXERCISE = 5
MINUTES_PER_EXPLORER = 3
KOREAN_WINDOW = 60

ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "cf.", "et al.", "Fig.", "Eq.", "approx.", "resp.")
EXTRA_FORMS = {  # glossary term -> more ways the lessons write it
    "fully connected (dense) layer": ("fully connected", "dense"),
    "skip (residual) connection": ("shortcut",),
    "batch normalization": ("batch normalisation",),
    "gradient check": ("gradient checking",),
    "fine-tuning": ("fine-tune", "fine-tuned"),
    "flatten": ("flattened", "flattening"),
    "overfitting": ("overfit",),
}

CODE = "\x00"  # what removed code and formulas leave behind: not a word, but a sentence may start with it
EXERCISE = re.compile(r"#\s*your code here", re.IGNORECASE)
EXPLORER_CALL = re.compile(r"(?<!def )\b\w+_(?:explorer|stepper)\(")
ASSIGNED = re.compile(r"^(\w+)\s*=\s*[\w.]*_(?:explorer|stepper)\(")
STATED_TIME = re.compile(r"\babout\s+(\d+)\s+minutes\b", re.IGNORECASE)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]{2,}")


# --- notebooks -------------------------------------------------------------------------------

def load(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def source(cell) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def markdown_cells(nb) -> list[str]:
    return [source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]


def code_cells(nb) -> list[str]:
    """The non-empty code cells, in order."""
    return [s for s in (source(c) for c in nb["cells"] if c["cell_type"] == "code") if s.strip()]


def header(nb) -> str:
    """The markdown cells before the first code cell."""
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            break
        if cell["cell_type"] == "markdown":
            out.append(source(cell))
    return "\n\n".join(out)


def stated_minutes(text: str) -> int | None:
    """The N of the first "About N minutes" in text (a lesson's header), or None."""
    m = STATED_TIME.search(text)
    return int(m.group(1)) if m else None


def is_exercise(code: str) -> bool:
    return bool(EXERCISE.search(code))


def explorers_shown(code: str) -> int:
    """How many explorers the cell shows: *_explorer(...) / *_stepper(...) calls whose result is the
    cell's last statement (the call itself, or the name it is assigned to) or goes to display()."""
    lines = [line.split("#", 1)[0].rstrip() for line in code.splitlines()]
    lines = [line for line in lines if line.strip()]
    top_level = [i for i, line in enumerate(lines) if not line[0].isspace()]
    shown = 0
    for i, line in enumerate(lines):
        if not EXPLORER_CALL.search(line):
            continue
        assigned = ASSIGNED.match(line)
        if assigned:  # explorer = filter_explorer(...) ... explorer
            name = assigned.group(1)
            shown += lines[-1].strip() == name or bool(re.search(rf"\bdisplay\(\s*{name}\s*\)", code))
        else:         # filter_explorer(...) as the last statement, or display(filter_explorer(...))
            shown += i == top_level[-1] or "display(" in line
    return shown


def cell_key(code: str) -> str:
    return hashlib.sha1(code.encode("utf-8")).hexdigest()


def cell_seconds(cell) -> float:
    """A code cell's run time from the timing that nbclient records (record_timing=True): from
    the kernel starting it to its reply; 0.0 when the cell has no timing."""
    stamps = cell.metadata.get("execution", {})
    start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() \
        if start and end else 0.0


# --- prose: blocks, sentences, words ---------------------------------------------------------

def _remove_block_markup(md: str) -> str:
    md = re.sub(r"(?ms)^\s*(```|~~~).*?^\s*\1[^\n]*$", "\n\n", md)    # fenced code
    md = re.sub(r"(?s)<!--.*?-->", " ", md)                             # HTML comments
    md = re.sub(r"(?s)\$\$.+?\$\$", f" {CODE} ", md)                   # display maths
    md = re.sub(r"(?s)\\\[.+?\\\]", f" {CODE} ", md)
    return md


def _clean_inline(text: str, link_text: bool) -> str:
    text = re.sub(r"(`+)(.+?)\1", f" {CODE} ", text, flags=re.S)         # inline code
    text = re.sub(r"(?<![\\$])\$(?!\s)[^$\n]+?\$", f" {CODE} ", text)    # inline maths
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)                    # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", (lambda m: m.group(1)) if link_text else (lambda m: CODE), text)
    text = re.sub(r"<(https?://[^>]+)>|https?://\S+|www\.\S+", " ", text)  # URLs
    text = re.sub(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>", " ", text)  # HTML tags
    text = re.sub(r"\*+|~~|(?<!\w)_+|_+(?!\w)", "", text)                 # emphasis
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Block:
    kind: str  # "heading", "item", "paragraph" or "table" (one table row)
    text: str  # cleaned prose


HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")


def blocks(md: str, link_text: bool = True) -> list[Block]:
    """Cut markdown into headings, list items, paragraphs and table rows, each cleaned."""
    raw: list[list] = []  # [kind, lines]
    for line in _remove_block_markup(md).splitlines():
        line = re.sub(r"^\s*(>\s?)+", "", line)
        if not line.strip() or RULE.match(line) or LINK_DEFINITION.match(line):
            raw.append(["end", []])
        elif HEADING.match(line):
            raw.append(["heading", [HEADING.sub("", line).rstrip("# ")]])
        elif line.lstrip().startswith("|"):
            raw.append(["table", [line.strip().strip("|")]])
        elif LIST_ITEM.match(line):
            raw.append(["item", [LIST_ITEM.sub("", line, count=1)]])
        elif raw and raw[-1][0] in ("item", "paragraph"):
            raw[-1][1].append(line)
        else:
            raw.append(["paragraph", [line]])
    out = []
    for kind, lines in raw:
        if kind == "end":
            continue
        text = _clean_inline(" ".join(lines), link_text)
        if count_words(text) or HANGUL.search(text):
            out.append(Block(kind, text))
    return out


def count_words(text: str) -> int:
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


_SENTENCE_END = re.compile(r"[.?!]+[\"')\]\u201d\u2019]*(\s+)(?=[\"'(\[\u201c\u2018]*\s*[A-Z\x00])")


def split_sentences(text: str) -> list[str]:
    """Cut one block of cleaned prose into sentences (abbreviations and numbers do not end one)."""
    protected = text
    for abbr in ABBREVIATIONS:
        pattern = r"(?<![\w.])" + re.escape(abbr)
        protected = re.sub(pattern, lambda m: m.group(0).replace(".", "\u2024"), protected, flags=re.I)
    out, start = [], 0
    for m in _SENTENCE_END.finditer(protected):
        out.append(text[start:m.start(1)])
        start = m.end(1)
    out.append(text[start:])
    return [s.strip() for s in out if count_words(s)]


def sentences(md: str) -> list[str]:
    """Every sentence of some markdown: a heading is one, list items and paragraphs are split."""
    out = []
    for block in blocks(md):
        if block.kind == "heading":
            out.append(block.text)
        elif block.kind in ("item", "paragraph"):
            out.extend(split_sentences(block.text))
    return out


def show(sentence: str) -> str:
    """A cleaned sentence for a person to read: removed code and maths shown as [...]."""
    return re.sub(r"\s*\x00\s*", " [...] ", sentence).strip()


# --- the glossary and the Korean-term rule ---------------------------------------------------

@dataclass
class Term:
    name: str               # "weight", "fully connected (dense) layer"
    forms: tuple[str, ...]  # what matches in a lesson
    korean: str             # the glossary's 한국어 cell (its side of a "/")
    korean_words: tuple[str, ...]

    @property
    def pattern(self) -> re.Pattern:
        alternatives = sorted(self.forms, key=len, reverse=True)
        body = "|".join(r"[\s-]+".join(map(re.escape, re.split(r"[\s-]+", f))) for f in alternatives)
        return re.compile(r"\b(?:" + body + r")(?:e?s)?\b", re.IGNORECASE)


def _forms(english: str) -> tuple[str, ...]:
    """"fully connected (dense) layer" -> "fully connected layer", "dense layer"."""
    m = re.fullmatch(r"(.*?)\s*\((.*?)\)\s*(.*)", english)
    forms = [english] if not m else [f"{m[1]} {m[3]}".strip(), f"{m[2]} {m[3]}".strip()]
    return tuple(dict.fromkeys(forms + list(EXTRA_FORMS.get(english, ()))))


def parse_glossary(md: str) -> list[Term]:
    """The terms of the glossary table (English | 한국어 | meaning) under a "Glossary" heading."""
    m = re.search(r"(?m)^#+\s*Glossary.*$", md)
    if not m:
        return []
    terms = []
    for line in md[m.end():].splitlines():
        if HEADING.match(line):
            break  # the next section
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2 or set(cells[0]) <= set("-: ") \
                or cells[0].lower() == "english":
            continue
        english, korean = cells[0], cells[1]
        en_sides = [s.strip() for s in english.split(" / ")]
        ko_sides = [s.strip() for s in korean.split(" / ")]
        if len(ko_sides) != len(en_sides):
            ko_sides = [korean] * len(en_sides)
        for en, ko in zip(en_sides, ko_sides):
            words = HANGUL_WORD.findall(ko) or re.findall(r"[\uac00-\ud7a3]+", ko)
            terms.append(Term(en, _forms(en), ko, tuple(words)))
    return terms


def glossary(notebooks_dir=NOTEBOOKS) -> list[Term]:
    return parse_glossary("\n\n".join(markdown_cells(load(Path(notebooks_dir) / GLOSSARY_NOTEBOOK))))


def _term_uses(text: str, terms: list[Term]) -> list[tuple[int, int, Term]]:
    """Where terms occur in text; where two overlap, the longer one wins."""
    found = sorted(((m.start(), m.end(), t) for t in terms for m in t.pattern.finditer(text)),
                   key=lambda u: (u[0], u[0] - u[1]))
    kept, reach = [], -1
    for start, end, term in found:
        if start >= reach:
            kept.append((start, end, term))
            reach = end
    return kept


def korean_problems(md: str, terms: list[Term]) -> list[str]:
    """Glossary terms whose first use in md is not followed by their Korean (see the docstring)."""
    units = []  # (kind, text): headings, table rows with Hangul, and the sentences of the rest
    for block in blocks(md, link_text=False):
        if block.kind in ("item", "paragraph"):
            units += [(block.kind, s) for s in split_sentences(block.text)]
        elif block.kind == "heading" or HANGUL.search(block.text):
            units.append((block.kind, block.text))
    done, problems = set(), []
    for kind, text in units:
        for start, end, term in _term_uses(text, terms):
            if term.name in done:
                continue
            window = text[end:end + KOREAN_WINDOW]
            ok = any(w in window for w in term.korean_words)
            if kind == "heading" and not ok:
                continue  # a heading without Korean is not the term's introduction
            done.add(term.name)
            if not ok:
                near = HANGUL_WORD.findall(window)
                has = f" (has {' '.join(near[:3])}; glossary: {term.korean})" if near else ""
                problems.append(f"{term.name}{has}")
    return problems


# --- run times and the estimate --------------------------------------------------------------

def load_cell_times(path=CELL_TIMES) -> dict[str, dict[str, float]]:
    """{notebook: {cell SHA-1: seconds}} from the file --measure writes; {} if there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {name: {c["sha1"]: c["seconds"] for c in entry["cells"]}
            for name, entry in doc.get("notebooks", {}).items()}


@dataclass
class LessonStats:
    name: str
    words: int
    code_cells: int
    exercises: int
    explorers: int
    measured_cells: int      # code cells with a recorded run time
    runtime_extra: float     # minutes that run times add above 1 per code cell
    stated: int | None
    sentences: list[str] = field(repr=False)
    korean_missing: list[str]

    @property
    def estimate(self) -> float:
        return (self.words / WORDS_PER_MINUTE + self.code_cells * MINUTES_PER_CODE_CELL
                + self.runtime_extra + self.exercises * MINUTES_PER_EXERCISE
                + self.explorers * MINUTES_PER_EXPLORER)

    @property
    def sentence_lengths(self) -> list[int]:
        return [count_words(s) for s in self.sentences]

    @property
    def average_sentence(self) -> float:
        return self.words / len(self.sentences) if self.sentences else 0.0

    @property
    def longest_sentence(self) -> tuple[int, str]:
        return max(((count_words(s), show(s)) for s in self.sentences), default=(0, ""))


def lesson_stats(path, cell_times=None, terms=None) -> LessonStats:
    path = Path(path)
    nb = load(path)
    md = "\n\n".join(markdown_cells(nb))
    code = code_cells(nb)
    times = (load_cell_times() if cell_times is None else cell_times).get(path.name, {})
    measured = [times[cell_key(c)] for c in code if cell_key(c) in times]
    extra = sum(max(0.0, s / 60 - MINUTES_PER_CODE_CELL) for s in measured)
    said = sentences(md)
    if path.name == GLOSSARY_NOTEBOOK:
        missing = []  # it holds the glossary: every term is introduced there
    else:
        missing = korean_problems(md, glossary(path.parent) if terms is None else terms)
    return LessonStats(
        name=path.name, words=sum(count_words(s) for s in said), code_cells=len(code),
        exercises=sum(map(is_exercise, code)), explorers=sum(map(explorers_shown, code)),
        measured_cells=len(measured), runtime_extra=extra, stated=stated_minutes(header(nb)),
        sentences=said, korean_missing=missing)


# --- measuring run times ---------------------------------------------------------------------

def measure(paths, out=CELL_TIMES, timeout=900) -> None:
    """Run each notebook with the course kernel (from notebooks/, as nbval does) and record every
    non-empty code cell's run time in out, keyed by the SHA-1 of its source. The notebook files
    are not changed; the entries of other notebooks in out are kept."""
    import nbformat
    from nbclient import NotebookClient

    out = Path(out)
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    doc["about"] = ("Run time of each code cell, in seconds, measured by `python tools/lesson_stats.py "
                    "--measure`; cells are matched by the SHA-1 of their source.")
    book = doc.setdefault("notebooks", {})
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, allow_errors=True,
                                record_timing=True, resources={"metadata": {"path": str(path.parent)}})
        began = time.perf_counter()
        client.execute()
        total = time.perf_counter() - began
        cells, errors = [], []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            seconds = cell_seconds(cell)
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                errors.append(index)
            cells.append({"cell": index, "sha1": cell_key(cell.source), "seconds": round(seconds, 2),
                          "first_line": cell.source.strip().splitlines()[0][:60]})
        book[path.name] = {"measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                           "total_seconds": round(total, 1), "cells_with_errors": errors, "cells": cells}
        out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        slow = sum(c["seconds"] > 60 for c in cells)
        print(f"{path.name}: {total:.0f} s, {len(cells)} code cells, {slow} over a minute"
              + (f", errors in cells {errors}" if errors else ""), flush=True)


# --- the table -------------------------------------------------------------------------------

def table(stats: list[LessonStats]) -> str:
    head = (f"{'notebook':28s} {'words':>6s} {'code':>5s} {'ex':>3s} {'expl':>4s} {'run+':>5s} "
            f"{'estimate':>8s} {'stated':>6s} {'avg':>5s} {'max':>4s}")
    lines = [head, "-" * len(head)]
    for s in stats:
        stated = "-" if s.stated is None else str(s.stated)
        n, text = s.longest_sentence
        lines.append(f"{s.name:28s} {s.words:6d} {s.code_cells:5d} {s.exercises:3d} {s.explorers:4d} "
                     f"{s.runtime_extra:5.1f} {s.estimate:8.1f} {stated:>6s} {s.average_sentence:5.1f} {n:4d}")
        lines.append(f"    run times measured for {s.measured_cells} of {s.code_cells} code cells")
        lines.append(f"    longest sentence ({n} words): {text}")
        lines.append("    Korean missing at first use: " + (", ".join(s.korean_missing) or "none"))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose names start with these")
    parser.add_argument("--measure", action="store_true",
                        help=f"run the notebooks and record each code cell's run time in {CELL_TIMES.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    paths = [p for p in sorted(NOTEBOOKS.glob("*.ipynb"))
             if not args.prefixes or p.name.startswith(tuple(args.prefixes))]
    if args.measure:
        measure(paths)
        return
    terms, times = glossary(), load_cell_times()
    print(table([lesson_stats(p, times, terms) for p in paths]))


if __name__ == "__main__":
    sys.exit(main())
