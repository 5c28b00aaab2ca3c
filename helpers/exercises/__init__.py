"""Checkers for the exercises: specific, kind feedback, and solutions a learner can open.

Each lesson has its own module (``helpers.exercises.lesson02`` ...). A checker takes the
learner's answer (a value or a function) and returns a :class:`Feedback`, which shows as a
green or orange box in JupyterLab and as text elsewhere. A checker never raises on an
unfinished answer (``None``, ``...`` or a function that raises ``NotImplementedError``): it
says what is still to do, so a notebook runs end to end as committed.

``solution("name")`` prints the worked solution of exercise ``name``.
"""
from __future__ import annotations

import html
import inspect
import textwrap
from dataclasses import dataclass
from typing import Callable

_SOLUTIONS: dict[str, Callable] = {}


@dataclass
class Feedback:
    """The checker's verdict. ``ok`` is True when the answer is right; ``message`` says why."""

    ok: bool
    message: str
    done: bool = True  # False: the learner has not attempted the exercise yet

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "Correct" if self.ok else ("Not done yet" if not self.done else "Not quite")
        return f"{mark}: {self.message}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1b7837" if self.ok else ("#5e5e5e" if not self.done else "#b35806")
        icon = "&#10004;" if self.ok else ("&#8230;" if not self.done else "&#10008;")
        body = html.escape(str(self)).replace("\n", "<br>")
        return (f'<div style="border-left: 4px solid {colour}; padding: 4px 8px;">'
                f'<span style="color:{colour}">{icon}</span> {body}</div>')


def correct(message: str) -> Feedback:
    return Feedback(True, message)


def wrong(message: str) -> Feedback:
    return Feedback(False, message)


def not_done(hint: str = "") -> Feedback:
    text = "fill in the '# your code here' part, then run the cell again."
    return Feedback(False, text + (" " + hint if hint else ""), done=False)


def is_unfinished(answer) -> bool:
    """True for the placeholders a fresh exercise holds: None or Ellipsis."""
    return answer is None or answer is Ellipsis


def call_learner(fn: Callable, *args, **kwargs):
    """Call a learner's function; returns (result, None) or (None, Feedback) on failure."""
    if is_unfinished(fn):
        return None, not_done()
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, not_done()
    except Exception as exc:  # a learner's bug: report it kindly instead of crashing the lesson
        return None, wrong(f"your function raised {type(exc).__name__}: {exc}")


def register_solution(name: str):
    """Decorator: record a function as the worked solution of exercise ``name``."""
    def deco(fn):
        _SOLUTIONS[name] = fn
        return fn
    return deco


def solution(name: str, show: bool = True) -> str:
    """Print (and return) the worked solution of exercise ``name``."""
    _load_all()
    if name not in _SOLUTIONS:
        raise KeyError(f"no solution named {name!r}; known: {', '.join(sorted(_SOLUTIONS))}")
    src = textwrap.dedent(inspect.getsource(_SOLUTIONS[name]))
    src = "\n".join(line for line in src.splitlines() if not line.startswith("@register_solution"))
    if show:
        print(src)
    return src


def _load_all() -> None:
    """Import every lesson module so that its solutions are registered."""
    import importlib
    import pkgutil
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
