from helpers.exercises import lesson18, solution
from helpers.layers import Dense, Flatten, GlobalAvgPool2D
from helpers.model import Sequential


def _n_features(body):
    n = 1
    for s in body.output_shape((1, 28, 28)):
        n *= s
    return n


def test_reference_solution_passes():
    fb = lesson18.check_transfer_model(lesson18.transfer_model_solution)
    assert fb.ok and "frozen" in fb.message and "trainable" in fb.message


def test_head_with_hidden_layer_passes():
    from helpers.layers import ReLU

    def fn(body, n_classes):
        body.trainable = False
        return Sequential(body, Flatten(), Dense(_n_features(body), 16), ReLU(), Dense(16, n_classes))
    assert lesson18.check_transfer_model(fn).ok


def test_body_not_frozen():
    fn = lambda body, n: Sequential(body, Flatten(), Dense(_n_features(body), n))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "body.trainable = False" in fb.message


def test_new_body_instead_of_the_given_one():
    from helpers import zoo

    def fn(body, n):
        fresh = zoo.transfer_body()
        fresh.trainable = False
        return Sequential(fresh, Flatten(), Dense(_n_features(fresh), n))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "body you were given" in fb.message


def test_hard_coded_number_of_classes():
    def fn(body, n):
        body.trainable = False
        return Sequential(body, Flatten(), Dense(_n_features(body), 5))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "n_classes=3" in fb.message and "by hand" in fb.message


def test_everything_frozen():
    def fn(body, n):
        model = Sequential(body, Flatten(), Dense(_n_features(body), n))
        model.trainable = False
        return model
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "nothing" in fb.message


def test_head_that_does_not_fit():
    def fn(body, n):
        body.trainable = False
        return Sequential(body, Flatten(), Dense(9999, n))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "does not fit" in fb.message


def test_partially_frozen_body_is_caught():
    def fn(body, n):
        body.layers[0].trainable = False          # only the first layer
        return Sequential(body, Flatten(), Dense(_n_features(body), n))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "trainable" in fb.message


def test_weights_changed_while_building():
    def fn(body, n):
        body.params[next(iter(body.params))][...] = 0
        body.trainable = False
        return Sequential(body, Flatten(), Dense(_n_features(body), n))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "weights changed" in fb.message


def test_unfinished_and_broken():
    assert not lesson18.check_transfer_model(None).done
    assert not lesson18.check_transfer_model(lambda body, n: None).done

    def todo(body, n):
        raise NotImplementedError
    assert not lesson18.check_transfer_model(todo).done
    fb = lesson18.check_transfer_model(lambda body, n: [body])
    assert not fb.ok and "list" in fb.message
    fb = lesson18.check_transfer_model(lambda body, n: body.nope)
    assert not fb.ok and "AttributeError" in fb.message


def test_solution_prints(capsys):
    assert "body.trainable = False" in solution("transfer_model")
    capsys.readouterr()


def test_gap_head_passes():
    def fn(body, n):
        body.trainable = False
        shape = body.output_shape((1, 28, 28))
        head = [Dense(shape[0], n)] if len(shape) == 1 else [GlobalAvgPool2D(), Dense(shape[0], n)]
        return Sequential(body, *head)
    assert lesson18.check_transfer_model(fn).ok


def test_hard_coded_576_features_is_caught():
    def fn(body, n_classes):             # what a learner copies from the lesson's summary
        body.trainable = False
        return Sequential(body, Flatten(), Dense(576, n_classes))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and fb.done
    assert "Dense(576, ...)" in fb.message and "784" in fb.message and "by hand" in fb.message
    assert "body.output_shape((1, 28, 28))" in fb.message


def test_hard_coded_64_channels_after_global_pooling_is_caught():
    def fn(body, n_classes):
        body.trainable = False
        return Sequential(body, GlobalAvgPool2D(), Dense(64, n_classes))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "Dense(64, ...)" in fb.message and "16 after global average pooling" in fb.message


def test_hard_coded_576_in_a_hidden_layer_is_caught():
    from helpers.layers import ReLU

    def fn(body, n_classes):
        body.trainable = False
        return Sequential(body, Sequential(Flatten(), Dense(576, 32), ReLU(), Dense(32, n_classes)))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "Dense(576, ...)" in fb.message


def test_a_head_that_fails_only_on_another_body_is_explained():
    def fn(body, n_classes):             # right for the lesson's 64x3x3 maps only
        body.trainable = False
        return Sequential(body, Flatten(), Dense(9 * body.layers[-3].out_channels, n_classes))
    fb = lesson18.check_transfer_model(fn)
    assert not fb.ok and "another one" in fb.message and "784" in fb.message


def test_correct_answer_mentions_the_second_body():
    fb = lesson18.check_transfer_model(lesson18.transfer_model_solution)
    assert fb.ok and "784" in fb.message
