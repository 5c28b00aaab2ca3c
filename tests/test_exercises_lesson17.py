"""The down_block checker of lesson 17, fed the reference and the wrong answers learners write."""
from helpers.exercises import lesson17, solution
from helpers.layers import BatchNorm2D, Conv2D, ReLU
from helpers.model import Residual, Sequential


def block_and_shortcut(block_layers, shortcut=None):
    return Sequential(Residual(Sequential(*block_layers), shortcut), ReLU())


def test_reference_passes():
    fb = lesson17.check_down_block(lesson17.down_block_solution)
    assert fb.ok and "(32, 7, 7)" in fb.message and "(40, 5, 5)" in fb.message and "1x1" in fb.message


def test_without_bn_passes_too():
    def down_block(cin, cout):
        return block_and_shortcut([Conv2D(cin, cout, 3, stride=2, padding=1), ReLU(),
                                   Conv2D(cout, cout, 3, padding=1)], Conv2D(cin, cout, 1, stride=2))
    assert lesson17.check_down_block(down_block).ok


def test_no_shortcut_at_all():
    fb = lesson17.check_down_block(lambda cin, cout: Sequential(Conv2D(cin, cout, 3, stride=2, padding=1)))
    assert not fb.ok and "Residual" in fb.message


def test_identity_shortcut_needs_a_projection():
    fb = lesson17.check_down_block(
        lambda cin, cout: Residual(Sequential(Conv2D(cin, cout, 3, stride=2, padding=1))))
    assert not fb.ok and "projection" in fb.message and "Conv2D(in_channels, out_channels, 1, stride=2)" in fb.message


def test_forgot_the_stride_everywhere():
    fb = lesson17.check_down_block(
        lambda cin, cout: Residual(Sequential(Conv2D(cin, cout, 3, padding=1)), Conv2D(cin, cout, 1)))
    assert not fb.ok and "(32, 14, 14)" in fb.message and "stride=2" in fb.message


def test_stride_in_the_shortcut_only():
    def down_block(cin, cout):
        return block_and_shortcut([Conv2D(cin, cout, 3, padding=1), ReLU(),
                                   Conv2D(cout, cout, 3, padding=1)], Conv2D(cin, cout, 1, stride=2))
    fb = lesson17.check_down_block(down_block)
    assert not fb.ok and "14x14 into 14x14" in fb.message and "stride=2 and padding=1" in fb.message


def test_forgot_the_padding_is_not_told_to_use_stride_3():
    # block 14 -> 6 (no padding), shortcut 14 -> 7: helpers.model's own error would propose a
    # 1x1 shortcut with stride=3; the checker names the missing padding instead
    def down_block(cin, cout):
        return block_and_shortcut([Conv2D(cin, cout, 3, stride=2), ReLU(),
                                   Conv2D(cout, cout, 3, padding=1)], Conv2D(cin, cout, 1, stride=2))
    fb = lesson17.check_down_block(down_block)
    assert not fb.ok and "padding=1" in fb.message and "6x6" in fb.message
    assert "stride=3" not in fb.message


def test_stride_3_gets_stride_2_advice():
    def down_block(cin, cout):
        return block_and_shortcut([Conv2D(cin, cout, 3, stride=3, padding=1), ReLU(),
                                   Conv2D(cout, cout, 3, padding=1)], Conv2D(cin, cout, 1, stride=3))
    fb = lesson17.check_down_block(down_block)
    assert not fb.ok and "(32, 5, 5)" in fb.message and "stride=2" in fb.message
    assert "stride=3" not in fb.message


def test_no_message_suggests_stride_3():
    for stride, pad in ((1, 0), (1, 1), (2, 0), (3, 0), (3, 1), (4, 1)):
        for short_stride in (1, 2, 3):
            def down_block(cin, cout, s=stride, p=pad, ss=short_stride):
                return block_and_shortcut([Conv2D(cin, cout, 3, stride=s, padding=p), ReLU(),
                                           Conv2D(cout, cout, 3, padding=1)],
                                          Conv2D(cin, cout, 1, stride=ss))
            fb = lesson17.check_down_block(down_block)
            assert "stride=3" not in fb.message, (stride, pad, short_stride, fb.message)
            assert not fb.ok and fb.done


def test_a_3x3_projection():
    fb = lesson17.check_down_block(
        lambda cin, cout: Residual(Sequential(Conv2D(cin, cout, 3, stride=2, padding=1)),
                                   Conv2D(cin, cout, 3, stride=2, padding=1)))
    assert not fb.ok and "1x1" in fb.message


def test_hard_coded_channel_counts_are_rejected():
    def down_block(cin, cout):          # right for (16, 32), and only for it
        return block_and_shortcut([Conv2D(16, 32, 3, stride=2, padding=1, bias=False),
                                   BatchNorm2D(32), ReLU(),
                                   Conv2D(32, 32, 3, padding=1, bias=False), BatchNorm2D(32)],
                                  Conv2D(16, 32, 1, stride=2))
    fb = lesson17.check_down_block(down_block)
    assert not fb.ok and fb.done
    assert "down_block(24, 40)" in fb.message and "by hand" in fb.message


def test_hard_coded_output_channels_only():
    def down_block(cin, cout):
        return block_and_shortcut([Conv2D(cin, 32, 3, stride=2, padding=1), ReLU(),
                                   Conv2D(32, 32, 3, padding=1)], Conv2D(cin, 32, 1, stride=2))
    fb = lesson17.check_down_block(down_block)
    assert not fb.ok and "(32, 5, 5)" in fb.message and "out_channels = 40" in fb.message
    assert "by hand" in fb.message


def test_wrong_channels():
    def down_block(cin, cout):
        return block_and_shortcut([Conv2D(cin, cout, 3, stride=2, padding=1), ReLU(),
                                   Conv2D(cout, cin, 3, padding=1)], Conv2D(cin, cout, 1, stride=2))
    fb = lesson17.check_down_block(down_block)
    assert not fb.ok and "16 channels" in fb.message and "out_channels = 32" in fb.message


def test_not_a_layer_and_unfinished():
    fb = lesson17.check_down_block(lambda cin, cout: [Conv2D(cin, cout, 1)])
    assert not fb.ok and "list" in fb.message
    assert not lesson17.check_down_block(None).done
    assert not lesson17.check_down_block(lambda cin, cout: None).done

    def todo(cin, cout):
        raise NotImplementedError
    assert not lesson17.check_down_block(todo).done


def test_solution_prints(capsys):
    assert "Residual(block, shortcut)" in solution("down_block")
    capsys.readouterr()
