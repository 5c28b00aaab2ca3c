"""The welcome notebook's warm-up exercise: how the checkers work."""
from . import Feedback, correct, is_unfinished, not_done, register_solution, wrong


@register_solution("weights_in_a_filter")
def weights_in_a_filter_solution():
    # A filter has one 3x3 kernel for each of the 3 input channels (R, G, B).
    answer = 3 * 3 * 3
    return answer


def check_weights_in_a_filter(answer) -> Feedback:
    """How many weights (not counting the bias) has one 3x3 filter on an RGB image?"""
    if is_unfinished(answer):
        return not_done("Hint: an RGB image has 3 channels, and a filter covers all of them.")
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return wrong(f"the answer is a number of weights; you gave {answer!r}.")
    if answer == 27:
        return correct("27 = 3 x 3 weights for each of the 3 input channels. "
                       "With its bias the filter has 28 parameters.")
    if answer == 9:
        return wrong("9 is one channel's kernel. A filter on an RGB image has one 3x3 kernel per channel.")
    if answer == 28:
        return wrong("28 counts the bias too; the question asks for the weights alone.")
    return wrong(f"{answer} is not it. Count 3 x 3 weights per channel, for 3 channels.")
