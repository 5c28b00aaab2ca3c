"""Checkers for the exercises: specific, kind feedback, and solutions a learner can open.

Each lesson has its own module (``helpers.exercises.lesson02`` ...). A checker takes the
learner's answer (a value or a function) and returns a :class:`Feedback`, which shows as a
green or orange box in JupyterLab and as text elsewhere. A checker never raises on an
unfinished answer (``None``, ``...`` or a function that raises ``NotImplementedError``): it
says what is still to do, so a notebook runs end to end as committed.

``solution("name")`` prints the worked solution of exercise ``name``.
"""
from __future__ import annotations

import contextlib
import html
import inspect
import os
import signal
import textwrap
import threading
import time
from dataclasses import dataclass
from typing import Callable

_SOLUTIONS: dict[str, Callable] = {}

#: Seconds one call of a learner's function may take before the checker stops it (a loop that
#: never ends would otherwise hang the notebook). HELPERS_TIME_LIMIT sets it for a process;
#: ``time_limit(seconds)`` for a while. 0 or None: no limit.
def _time_limit_from_environment(default=10.0):
    try:
        return float(os.environ.get("HELPERS_TIME_LIMIT", "") or default)
    except ValueError:                      # a typo there must not break every lesson
        return default


TIME_LIMIT = [_time_limit_from_environment()]


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


class TooSlow(BaseException):
    """Raised inside a learner's function that runs past the time limit. A BaseException, so
    that a learner's ``except Exception`` does not swallow it."""


@contextlib.contextmanager
def time_limit(seconds):
    """Within the block, each call of a learner's function may take at most ``seconds``
    (None or 0: no limit); restored afterwards."""
    before = TIME_LIMIT[0]
    TIME_LIMIT[0] = seconds
    try:
        yield
    finally:
        TIME_LIMIT[0] = before


@contextlib.contextmanager
def _deadline(seconds):
    """Raise TooSlow in the block after ``seconds`` (a SIGALRM timer, so only in the main
    thread, where notebook cells run; elsewhere there is no limit). A timer that was already
    running (pytest-timeout's, say) keeps its handler and the rest of its time."""
    if (not seconds or seconds <= 0 or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    start = time.monotonic()
    old_delay, _ = signal.getitimer(signal.ITIMER_REAL)

    def handler(signum, frame):
        if time.monotonic() - start >= seconds * 0.999:
            raise TooSlow()
        if callable(old_handler):                # the earlier timer is due first
            old_handler(signum, frame)

    old_handler = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, min(seconds, old_delay) if old_delay else seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:                             # give the earlier timer the rest of its time
            left = old_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


def call_learner(fn: Callable, *args, **kwargs):
    """Call a learner's function; returns (result, None) or (None, Feedback) on failure.

    Each call may run ``TIME_LIMIT[0]`` seconds (10 by default); a function that takes longer
    is stopped and reported, so a loop that never ends cannot hang the lesson."""
    if is_unfinished(fn):
        return None, not_done()
    if not callable(fn):
        return None, wrong(f"pass your function itself (its name, without brackets); you passed "
                           f"{type(fn).__name__} {_short(fn)}.")
    seconds = TIME_LIMIT[0]
    try:
        with _deadline(seconds):
            return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, not_done()
    except TooSlow:
        return None, wrong(f"your function did not finish within {seconds:g} seconds on one "
                           f"test input, so the checker stopped it. Look for a loop that never "
                           f"ends (a while loop whose condition stays true), or one that runs "
                           f"over far more values than it needs.")
    except RecursionError:
        return None, wrong("your function called itself without end (RecursionError).")
    except Exception as exc:  # a learner's bug: report it kindly instead of crashing the lesson
        return None, wrong(f"your function raised {type(exc).__name__}: {_short(exc, 200)}")


def _short(value, limit=60):
    try:
        text = str(value) if isinstance(value, BaseException) else repr(value)
    except Exception:                                 # a learner's object whose repr fails
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
