from helpers.exercises import lesson00, solution


def test_reference_solution_passes():
    fb = lesson00.check_weights_in_a_filter(lesson00.weights_in_a_filter_solution())
    assert fb.ok and "27" in fb.message


def test_typical_wrong_answers_get_specific_feedback():
    assert "one channel" in lesson00.check_weights_in_a_filter(9).message
    assert "bias" in lesson00.check_weights_in_a_filter(28).message
    assert not lesson00.check_weights_in_a_filter(12).ok
    assert "number" in lesson00.check_weights_in_a_filter("27").message


def test_unfinished_answer_is_not_an_error():
    fb = lesson00.check_weights_in_a_filter(None)
    assert not fb.ok and not fb.done and "your code here" in fb.message
    assert "Not done yet" in str(fb) and "<div" in fb._repr_html_()


def test_solution_prints_source(capsys):
    src = solution("weights_in_a_filter")
    assert "3 * 3 * 3" in src and "3 * 3 * 3" in capsys.readouterr().out
