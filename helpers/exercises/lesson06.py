"""Lesson 06 (channels and filters): count the parameters of a layer and of a small model.

The checkers do not just say "wrong": they recognise the usual slips (the bias forgotten, the
input channels forgotten, a 3x3 kernel counted as 3, the previous layer's channels taken from
the image, the pooling forgotten before Flatten) and name them.

The test cases use different numbers for every argument (and one non-square kernel), so each
slip gives a result that no other slip gives.
"""
from __future__ import annotations

import difflib
import numbers
import re

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong

# ---------------------------------------------------------------------------------------------
# Exercise "conv_params": parameters of one Conv2D layer
# ---------------------------------------------------------------------------------------------

#: (in_channels, out_channels, kh, kw): small, LeNet's C3 (full), a 1x1 conv, a non-square kernel
CONV_CASES = [(3, 6, 3, 3), (6, 16, 5, 5), (64, 32, 1, 1), (5, 7, 3, 2)]


@register_solution("conv_params")
def conv_params_solution(in_channels, out_channels, kh, kw):
    # one filter = one kh x kw kernel per input channel, plus ONE bias for the whole filter
    weights_per_filter = in_channels * kh * kw
    return (weights_per_filter + 1) * out_channels     # one filter per output channel


#: typical slips: (name, formula, what to tell the learner)
_CONV_SLIPS = [
    ("no bias", lambda c, f, kh, kw: c * kh * kw * f,
     "you forgot the bias: every filter (output channel) has one, so add out_channels "
     "(the formula is (in_channels * kh * kw + 1) * out_channels)."),
    ("no input channels", lambda c, f, kh, kw: (kh * kw + 1) * f,
     "you forgot the input channels: a filter holds one kh x kw kernel for *each* input "
     "channel, so it has in_channels * kh * kw weights, not kh * kw."),
    ("no input channels, no bias", lambda c, f, kh, kw: kh * kw * f,
     "you counted one kh x kw kernel per filter: a filter has one kernel per input channel "
     "(in_channels * kh * kw weights) and one bias."),
    ("one filter", lambda c, f, kh, kw: c * kh * kw + 1,
     "that is the count of one filter; the layer has out_channels filters, one per output "
     "channel: multiply by out_channels."),
    ("one filter, no bias", lambda c, f, kh, kw: c * kh * kw,
     "that is the number of weights of one filter, without its bias; the layer has "
     "out_channels filters, each with one bias."),
    ("bias per input channel", lambda c, f, kh, kw: (c * kh * kw + c) * f,
     "you gave each kernel its own bias (one per input channel); the kernels of a filter are "
     "summed into one output channel, which gets one bias: add out_channels, not "
     "in_channels * out_channels."),
    ("bias per weight", lambda c, f, kh, kw: 2 * c * kh * kw * f,
     "you counted a bias for every weight; there is one bias per filter (output channel)."),
    ("in and out swapped in the bias", lambda c, f, kh, kw: c * kh * kw * f + c,
     "you added one bias per *input* channel; biases belong to the filters, one per *output* "
     "channel."),
    ("kernel height twice", lambda c, f, kh, kw: (c * kh * kh + 1) * f,
     "the kernel has kh * kw taps; you used kh * kh (right only for square kernels; try the "
     "3 x 2 kernel)."),
    ("kernel width twice", lambda c, f, kh, kw: (c * kw * kw + 1) * f,
     "the kernel has kh * kw taps; you used kw * kw (right only for square kernels; try the "
     "3 x 2 kernel)."),
    ("kernel side not squared", lambda c, f, kh, kw: (c * kh + 1) * f,
     "a kh x kw kernel has kh * kw weights; it looks as if you counted only kh."),
    ("sum instead of product", lambda c, f, kh, kw: (c + kh * kw + 1) * f,
     "the weights of a filter are in_channels * kh * kw (a kernel for each channel), "
     "not in_channels + kh * kw."),
]


def _as_count(value):
    """The learner's result as an int, or None when it is no whole number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    if getattr(value, "ndim", None) != 0 or not hasattr(value, "item"):
        return None                        # lists, strings, arrays with a shape
    try:                                   # a 0-d NumPy array or a NumPy scalar
        v = value.item()
    except (AttributeError, ValueError, TypeError):
        return None
    return _as_count(v) if not hasattr(v, "item") else None


def check_conv_params(fn) -> Feedback:
    """Check ``conv_params(in_channels, out_channels, kh, kw)`` on several layers and name the
    slip: bias, input channels, out_channels, kernel size."""
    if is_unfinished(fn):
        return not_done("Hint: a filter has one kh x kw kernel for every input channel, and one bias.")
    if not callable(fn):
        return wrong(f"pass your function itself, as in check_conv_params(conv_params); you passed "
                     f"{type(fn).__name__} {_short(fn)}.")
    results = {}
    for case in CONV_CASES:
        got, problem = call_learner(fn, *case)
        if problem is not None:
            if not problem.done:
                return problem
            return wrong(f"conv_params{case}: {problem.message}")
        if got is None:
            return wrong(f"conv_params{case} returned None: did you forget the `return`?")
        n = _as_count(got)
        if n is None and isinstance(got, str):
            return wrong(f"conv_params{case} returned the string {_short(got)}: text in quotes, not a "
                         f"number. Return the number itself (e.g. 168, not \"168\"), so that counts "
                         f"can be added up.")
        if n is None:
            return wrong(f"conv_params{case} returned {_short(got)}; a parameter count is a whole "
                         f"number (use * and +; no division is needed).")
        results[case] = n
    expected = {case: conv_params_solution(*case) for case in CONV_CASES}
    if results == expected:
        c, f, kh, kw = CONV_CASES[1]
        return correct(f"(in_channels * kh * kw + 1) * out_channels, e.g. LeNet-5's C3 with all "
                       f"6 inputs connected: ({c}*{kh}*{kw} + 1) * {f} = {expected[CONV_CASES[1]]:,}.")
    # the slip that explains every case
    for _, formula, message in _CONV_SLIPS:
        if all(results[case] == formula(*case) for case in CONV_CASES):
            case = next(cs for cs in CONV_CASES if results[cs] != expected[cs])
            return wrong(f"conv_params{case} gave {results[case]:,}, expected {expected[case]:,}: "
                         + message)
    case = next(cs for cs in CONV_CASES if results[cs] != expected[cs])
    c, f, kh, kw = case
    return wrong(f"conv_params{case} gave {results[case]:,}, expected {expected[case]:,} = "
                 f"({c}*{kh}*{kw} + 1) * {f}: each of the {f} filters has {c} kernels of "
                 f"{kh}x{kw} weights and one bias.")


# ---------------------------------------------------------------------------------------------
# Exercise "cifar_params": the parameters of a whole model, layer by layer
# ---------------------------------------------------------------------------------------------

#: The Keras CIFAR-10 model of the source material (32x32x3 input, padding="same",
#: 2x2 max pooling): layer name -> (description, output shape (C, H, W) or (features,))
CIFAR_LAYERS = {
    "conv1": ("Conv2D(3, 32, 3, padding='same')", (32, 32, 32)),
    "pool1": ("MaxPool2D(2)", (32, 16, 16)),
    "conv2": ("Conv2D(32, 32, 3, padding='same')", (32, 16, 16)),
    "pool2": ("MaxPool2D(2)", (32, 8, 8)),
    "conv3": ("Conv2D(32, 32, 3, padding='same')", (32, 8, 8)),
    "pool3": ("MaxPool2D(2)", (32, 4, 4)),
    "flatten": ("Flatten()", (512,)),
    "dense1": ("Dense(512, 128)", (128,)),
    "dense2": ("Dense(128, 10)", (10,)),
}


@register_solution("cifar_params")
def cifar_params_solution():
    conv1 = (3 * 3 * 3 + 1) * 32        # 3 input channels (RGB), 32 filters of 3x3
    conv2 = (32 * 3 * 3 + 1) * 32       # input: conv1's 32 channels
    conv3 = (32 * 3 * 3 + 1) * 32
    # 'same' padding keeps 32x32; each 2x2 pooling halves it: 32 -> 16 -> 8 -> 4
    flat = 32 * 4 * 4                   # 512 features after Flatten
    dense1 = (flat + 1) * 128           # a weight per input feature, plus a bias, per unit
    dense2 = (128 + 1) * 10
    params = {"conv1": conv1, "pool1": 0, "conv2": conv2, "pool2": 0, "conv3": conv3,
              "pool3": 0, "flatten": 0, "dense1": dense1, "dense2": dense2}
    params["total"] = sum(params.values())
    return params


def _conv_slip(got, c_in, c_out, k=3):
    """What went wrong in a conv layer's count, or None."""
    if got == c_in * k * k * c_out:
        return "the bias is missing: add one per filter (+%d)" % c_out
    if got == (k * k + 1) * c_out or got == k * k * c_out:
        return (f"the input channels are missing: each filter has a {k}x{k} kernel for each of "
                f"the {c_in} input channels")
    if c_in != 3 and got in ((3 * k * k + 1) * c_out, 3 * k * k * c_out):
        return (f"this layer's input is the previous layer's output, {c_in} channels, not the "
                f"3 colour channels of the image")
    if got == (c_in * k * k + c_in) * c_out:
        return "one bias per filter, not one per kernel"
    return None


def _dense_slip(got, n_in, n_out, name):
    if got == n_in * n_out:
        return f"the bias is missing: add one per unit (+{n_out})"
    if name == "dense1":
        for flat, why in ((32 * 32 * 32, "the image is still 32x32 only before pooling: three "
                                          "2x2 poolings make it 32 -> 16 -> 8 -> 4"),
                          (32 * 8 * 8, "there are three poolings, 32 -> 16 -> 8 -> 4, not two"),
                          (32 * 2 * 2, "padding='same' keeps the size through each convolution "
                                       "(without it: 32 -> 30 -> 15 -> 13 -> 6 -> 4 -> 2)"),
                          (3 * 4 * 4, "Flatten sees the last convolution's 32 channels, not 3"),
                          (4 * 4, "Flatten keeps every channel: 32 channels x 4 x 4")):
            if got in ((flat + 1) * n_out, flat * n_out):
                return (f"your count implies {flat} features after Flatten; there are "
                        f"{n_in} = 32 x 4 x 4: {why}")
    return None


def _squash(key: str) -> str:
    return re.sub(r"[\s_\-]", "", key.lower())


def _intended_key(key, expected_keys, taken):
    """The expected key that ``key`` (not itself expected) was probably meant to be, or None.
    ``taken``: keys the answer already has, which cannot be meant a second time. A near miss
    must keep the layer's number ("Conv1", "conv 1", "cnv1" mean conv1; "conv4" means nothing)."""
    if not isinstance(key, str):
        return None
    free = [k for k in expected_keys if k not in taken]
    for k in free:
        if _squash(key) == _squash(k):
            return k
    digits = re.sub(r"\D", "", key)
    same_number = [k for k in free if re.sub(r"\D", "", k) == digits]
    close = difflib.get_close_matches(_squash(key), same_number, n=1, cutoff=0.6)
    return close[0] if close else None


def _entry_problem(name, value, filled) -> str | None:
    """None when ``value`` is the right count for entry ``name``; else what is wrong with it.
    ``filled``: all the learner's filled-in entries under their intended names (for "total")."""
    exp = cifar_params_solution()[name]
    got = _as_count(value)
    if got is None:
        return f": {_short(value)} is not a whole number"
    if got == exp:
        return None
    desc = CIFAR_LAYERS[name][0] if name in CIFAR_LAYERS else "the sum of all layers"
    why = None
    if name.startswith("pool") or name == "flatten":
        why = "pooling and Flatten have nothing to learn: 0 parameters"
    elif name == "conv1":
        why = _conv_slip(got, 3, 32)
    elif name in ("conv2", "conv3"):
        why = _conv_slip(got, 32, 32)
    elif name == "dense1":
        why = _dense_slip(got, 512, 128, name)
    elif name == "dense2":
        why = _dense_slip(got, 128, 10, name)
    elif name == "total":
        layer_sum = sum(_as_count(filled[k]) or 0 for k in CIFAR_LAYERS if k in filled)
        if all(k in filled for k in CIFAR_LAYERS) and got != layer_sum:
            why = f"your layers add up to {layer_sum:,}"
        elif all(k in filled for k in CIFAR_LAYERS):
            why = "it follows from the layers above; fix those first"
    line = f" ({desc}): {got:,} is not right"
    return line + (f": {why}" if why else "")


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _key_text(key) -> str:
    return f'"{key}"' if isinstance(key, str) and len(key) <= 40 else _short(key)


def check_cifar_params(answer) -> Feedback:
    """Check a dict of parameter counts for the CIFAR-10 model, layer by layer plus "total";
    report every wrong entry with the reason. Keys are compared exactly: a misspelled or
    differently-cased key is named, and its value is checked under the key it was meant to be."""
    if is_unfinished(answer):
        return not_done()
    if not isinstance(answer, dict):
        return wrong(f"give a dict like {{'conv1': ..., 'pool1': ..., 'total': ...}}, "
                     f"not a {type(answer).__name__}.")
    expected = cifar_params_solution()
    # 1. the keys: exact names only; a near miss is mapped to the key it was meant to be
    renamed = {}                         # learner's key -> intended expected key
    key_problems = []
    for key in answer:
        if key in expected:
            continue
        meant = _intended_key(key, expected, set(answer) | set(renamed.values()))
        twin = next((k for k in expected if isinstance(key, str) and _squash(key) == _squash(k)), None)
        if meant is not None:
            renamed[key] = meant
        elif twin is not None:
            key_problems.append(f"the key {_key_text(key)} repeats \"{twin}\" in another spelling; "
                                f"keep only \"{twin}\" (keys must match exactly).")
        else:
            key_problems.append(f"the key {_key_text(key)} is not an entry of this model; the keys are "
                                f"{', '.join(expected)} (ReLU layers have no parameters and no entry).")
    entries = {k: v for k, v in answer.items() if k in expected}
    entries.update({meant: answer[key] for key, meant in renamed.items()})
    filled = {k: v for k, v in entries.items() if not is_unfinished(v)}
    if not filled and not renamed and not key_problems:
        return not_done("Replace each None by a number.")
    learner_key = {meant: key for key, meant in renamed.items()}
    todo = [k for k in expected if k in entries and k not in filled]
    missing = [k for k in expected if k not in entries]
    problems = []
    n_ok = 0
    for name in expected:
        if name not in entries:
            continue
        if name in learner_key:
            key = learner_key[name]
            head = (f"you wrote {_key_text(key)}; the expected key is \"{name}\" (keys must match "
                    f"exactly: lower case, no spaces)")
            if name not in filled:
                problems.append(head + ".")
                continue
            why = _entry_problem(name, filled[name], filled)
            if why is None:
                problems.append(head + f". Its value, {_as_count(filled[name]):,}, is right for {name}.")
            else:
                problems.append(head + f". Its value is wrong too: {name}{why}.")
            continue
        if name not in filled:
            continue
        why = _entry_problem(name, filled[name], filled)
        if why is None:
            n_ok += 1
        else:
            problems.append(f"{name}{why}.")
    problems += key_problems
    if problems:
        n_filled = len(filled)
        head = (f"{n_ok} of {n_filled} filled-in {'entry is' if n_filled == 1 else 'entries are'} right. "
                f"Check these:\n")
        if n_ok == 0 and n_filled == 0:
            head = "Check these:\n"
        tail = ""
        if todo or missing:
            tail = "\nStill to fill in: " + ", ".join(todo + missing) + "."
        return wrong(head + "\n".join("- " + p for p in problems) + tail)
    if todo or missing:
        n = len(filled)
        return Feedback(False, f"the {n} {'entry' if n == 1 else 'entries'} you filled in "
                        f"{'is' if n == 1 else 'are'} right. Still to fill in: "
                        f"{', '.join(todo + missing)}.", done=False)
    share = expected["dense1"] / expected["total"]
    return correct(f"{expected['total']:,} parameters in all, the figure Keras's summary shows. "
                   f"The first Dense layer alone holds {expected['dense1']:,} of them "
                   f"({share:.0%}); the three convolutions together only "
                   f"{expected['conv1'] + expected['conv2'] + expected['conv3']:,}.")
