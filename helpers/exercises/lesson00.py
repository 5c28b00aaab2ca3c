"""The welcome notebook's warm-up exercise: how the checkers work."""
import math
import numbers

from . import Feedback, correct, is_unfinished, not_done, register_solution, wrong


@register_solution("weights_in_a_filter")
def weights_in_a_filter_solution():
    # A filter has one 3x3 kernel for each of the 3 input channels (R, G, B).
    answer = 3 * 3 * 3
    return answer


def _as_number(answer):
    """A plain int or float for any real number (Python or NumPy, also a 0-d array), else None.
    True and False are no numbers here."""
    if hasattr(answer, "ndim") and getattr(answer, "ndim", None) == 0 and hasattr(answer, "item"):
        answer = answer.item()                      # a 0-d NumPy array or a NumPy scalar
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return None
    return int(answer) if isinstance(answer, numbers.Integral) else float(answer)


def check_weights_in_a_filter(answer) -> Feedback:
    """How many weights (not counting the bias) has one 3x3 filter on an RGB image?"""
    if is_unfinished(answer):
        return not_done("Hint: an RGB image has 3 channels, and a filter covers all of them.")
    if isinstance(answer, str):
        return wrong(f"you gave the text {answer!r:.60} (in quotes), a string. The answer is a number "
                     f"of weights: write the number itself, without quotes.")
    if callable(answer):
        return wrong("you gave a function; the answer is a number of weights, e.g. answer = 2 * 5.")
    value = _as_number(answer)
    if value is None:
        if isinstance(answer, bool) or str(getattr(answer, "dtype", "")) == "bool":
            kind = "a yes/no value (bool)"
        elif hasattr(answer, "shape") or isinstance(answer, (list, tuple)):
            kind = "a list or array, not one number"
        else:
            kind = f"a value of type {type(answer).__name__}"
        shown = repr(answer) if len(repr(answer)) <= 60 else repr(answer)[:57] + "..."
        return wrong(f"the answer is one number of weights; you gave {kind}: {shown}.")
    if not math.isfinite(value):
        return wrong(f"{value} is not a count: the answer is a whole number of weights.")
    if value == 27:
        return correct("27 = 3 x 3 weights for each of the 3 input channels. "
                       "With its bias the filter has 28 parameters.")
    if value != int(value):
        return wrong(f"{value:g} is not a whole number; a filter has a whole number of weights. "
                     f"Count 3 x 3 weights per channel, for 3 channels.")
    value = int(value)
    if value == 9:
        return wrong("9 is one channel's kernel. A filter on an RGB image has one 3x3 kernel per channel.")
    if value == 28:
        return wrong("28 counts the bias too; the question asks for the weights alone.")
    return wrong(f"{value} is not it. Count 3 x 3 weights per channel, for 3 channels.")
