"""Fuzz every exercise checker (issue 29): whatever a learner passes, a checker returns its
Feedback and never raises, never calls a random answer right, and passes the worked solution.

Checkers are found generically: every function named ``check_*`` in every module of
``helpers.exercises`` (a lesson module added later is covered without a change here), with the
worked solution registered in the same module under the checker's name (``check_X`` <->
``solution("X")``, or the one solution whose name starts with X). A solution without
parameters returns the answer itself (a number, a list); one with parameters is the function
to pass.

Answers (tests/strategies.py ``answers``): None, numbers, strings, lists, dicts, arrays of every
shape and dtype, and functions that return any of those, raise, modify their input in place or
never finish (each call has a time limit). Every case the fuzzer found has its own unit test in
the lesson's test file.
"""
import importlib
import inspect
import pkgutil
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import helpers.exercises as exercises
from helpers.exercises import Feedback, time_limit
from strategies import answers, fuzz_settings, functions

#: Seconds a learner's function may run while fuzzing (the default, 10 s, is for notebooks).
FUZZ_TIME_LIMIT = 0.05


def _discover():
    """[(module name, checker name, checker, solution function or None)] for every check_* in
    every module of helpers.exercises."""
    found = []
    for info in sorted(pkgutil.iter_modules(exercises.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"helpers.exercises.{info.name}")
        solutions = {name: fn for name, fn in exercises._SOLUTIONS.items()
                     if fn.__module__ == mod.__name__}
        for name, fn in sorted(vars(mod).items()):
            if not (name.startswith("check_") and inspect.isfunction(fn)
                    and fn.__module__ == mod.__name__):
                continue
            stem = name[len("check_"):]
            sol = solutions.get(stem)
            if sol is None:
                near = [s for n, s in solutions.items() if n.startswith(stem)]
                sol = near[0] if len(near) == 1 else None
            found.append((info.name, name, fn, sol))
    return found


CHECKERS = _discover()
IDS = [f"{m}.{c}" for m, c, _, _ in CHECKERS]


def _reference_answer(sol):
    """The answer a learner would pass: the solution's value, or the solution function."""
    required = [p for p in inspect.signature(sol).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return sol() if not required else sol


def _same(a, b):
    """True when a learner's value is the reference answer (so it may rightly pass)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(b, dict) or isinstance(a, dict):
                return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                        and all(_same(a[k], b[k]) for k in a))
            x, y = np.asarray(a), np.asarray(b)
            if x.dtype == object or y.dtype == object or x.shape != y.shape:
                return False
            return bool(np.allclose(x.astype(np.float64), y.astype(np.float64), rtol=1e-3))
    except Exception:
        return False


def _feedback(checker, answer):
    """The checker's verdict, which must be a Feedback that prints (text and HTML)."""
    fb = checker(answer)
    assert isinstance(fb, Feedback), f"{checker.__name__} returned {type(fb).__name__}, not Feedback"
    assert isinstance(fb.message, str) and fb.message.strip()
    assert str(fb) and fb._repr_html_()
    return fb


def test_every_exercise_module_is_covered():
    """Every lesson module with exercises has checkers found here, each with a solution."""
    modules = {m for m, *_ in CHECKERS}
    with_solutions = {fn.__module__.rsplit(".", 1)[-1] for fn in exercises._SOLUTIONS.values()}
    assert with_solutions <= modules, with_solutions - modules
    assert len(CHECKERS) >= 20


@pytest.mark.parametrize("case", CHECKERS, ids=IDS)
def test_checker_has_a_worked_solution_that_passes(case):
    module, name, checker, sol = case
    assert sol is not None, f"{module}.{name} has no registered solution named {name[6:]!r}"
    fb = _feedback(checker, _reference_answer(sol))
    assert fb.ok, f"{module}.{name} rejects its own worked solution: {fb}"


@pytest.mark.parametrize("case", CHECKERS, ids=IDS)
@fuzz_settings(25)
@given(answer=answers())
def test_checker_never_raises_and_never_passes_a_random_answer(case, answer):
    module, name, checker, sol = case
    reference = _reference_answer(sol) if sol is not None else None
    if reference is not None and not callable(reference):
        assume(not _same(answer, reference))
    with time_limit(FUZZ_TIME_LIMIT), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fb = _feedback(checker, answer)
    assert not fb.ok, f"{module}.{name} called a random answer right: {answer!r} -> {fb}"


@pytest.mark.parametrize("case", CHECKERS, ids=IDS)
def test_checker_stops_a_function_that_never_finishes(case):
    module, name, checker, sol = case

    def forever(*args, **kwargs):
        while True:
            pass

    start = time.monotonic()
    with time_limit(0.2):
        fb = _feedback(checker, forever)
    assert not fb.ok
    assert time.monotonic() - start < 5
    if sol is not None and callable(_reference_answer(sol)):   # a function is the answer here
        assert "did not finish within 0.2 seconds" in fb.message, fb.message


@pytest.mark.parametrize("case", CHECKERS, ids=IDS)
@fuzz_settings(5)
@given(fn=functions())
def test_checker_of_a_function_survives_one_that_modifies_its_input(case, fn):
    """The right answer, computed before the function spoils its input in place: no crash, and
    the next check of the worked solution is not affected (the checker's data stays intact)."""
    module, name, checker, sol = case
    if sol is None or not callable(_reference_answer(sol)):
        return

    def spoils(*args, **kwargs):
        result = sol(*args, **kwargs)
        from strategies import _mutate
        _mutate(list(args) + list(kwargs.values()))
        return result

    with time_limit(FUZZ_TIME_LIMIT * 20), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _feedback(checker, spoils)
        _feedback(checker, fn)
    assert _feedback(checker, sol).ok, f"{module}.{name}: a learner's function changed the checker's data"


# --- the time limit itself (helpers.exercises.call_learner) ------------------------------------

def test_a_loop_that_never_ends_is_stopped_and_reported_kindly():
    from helpers.exercises import call_learner

    def stubborn(x):
        while True:
            try:
                while True:
                    pass
            except Exception:               # a learner's catch-all does not swallow the stop
                pass

    start = time.monotonic()
    with time_limit(0.2):
        result, fb = call_learner(stubborn, 1)
    assert result is None and not fb.ok and fb.done
    assert "did not finish within 0.2 seconds" in fb.message and "loop" in fb.message
    assert time.monotonic() - start < 2


def test_the_time_limit_keeps_an_outer_timer_and_its_handler():
    """pytest-timeout (and others) use SIGALRM too: their timer keeps running, and their
    handler is back afterwards."""
    import signal

    from helpers.exercises import call_learner
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        with time_limit(0.1):
            assert call_learner(lambda: sum(range(10)))[0] == 45
            _, fb = call_learner(lambda: time.sleep(5))
        assert "did not finish" in fb.message
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < left <= 30
        assert not fired
        signal.setitimer(signal.ITIMER_REAL, 0.05)          # the outer handler still works
        time.sleep(0.2)
        assert fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_outside_the_main_thread_there_is_no_limit_and_no_error():
    import threading

    from helpers.exercises import call_learner
    out = []
    with time_limit(0.05):
        t = threading.Thread(target=lambda: out.append(call_learner(lambda: time.sleep(0.2) or 7)))
        t.start()
        t.join()
    assert out == [(7, None)]


def test_calling_something_that_is_no_function_is_named():
    from helpers.exercises import call_learner
    result, fb = call_learner(42, 1)
    assert result is None and "pass your function itself" in fb.message and "int 42" in fb.message
