"""helpers.model: Sequential, Concat, Residual; summary figures, save/load, composite gradients."""
import time

import numpy as np
import pytest

from helpers.gradcheck import check_layer, check_model
from helpers.layers import (AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D,
                            ReLU, SoftmaxCrossEntropy, Tanh)
from helpers.model import Concat, Residual, Sequential

TOL = 1e-6


def randn(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def randomize_biases(model, seed=2):
    """Zero biases make exact ties (e.g. all-zero ReLU regions give equal conv outputs), and a
    max over tied values has no derivative: numerical and analytic gradients then disagree."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        if p.name.endswith("b"):
            p.data[...] = rng.standard_normal(p.data.shape)
    return model


def conv_params(k, c_in, c_out):
    """A k x k convolution: one weight per (input channel, kernel pixel, filter), one bias per filter."""
    return (k * k * c_in + 1) * c_out


def dense_params(n_in, n_out):
    return (n_in + 1) * n_out


def lenet5():
    return Sequential(
        Conv2D(1, 6, 5), Tanh(), AvgPool2D(2),
        Conv2D(6, 16, 5), Tanh(), AvgPool2D(2),
        Flatten(), Dense(400, 120), Tanh(), Dense(120, 84), Tanh(), Dense(84, 10))


VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M"]


def vgg16():
    blocks, c = [], 3
    for v in VGG16_CONFIG:
        if v == "M":
            blocks.append(MaxPool2D(2))
        else:
            blocks += [Conv2D(c, v, 3, padding=1), ReLU()]
            c = v
    return Sequential(*blocks, Flatten(), Dense(512 * 7 * 7, 4096), ReLU(),
                      Dense(4096, 4096), ReLU(), Dense(4096, 1000))


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def test_lenet5_summary(capsys):
    # worked out by hand: C1 6@5x5 on 1 channel, C3 16@5x5 on 6 channels (fully connected; the
    # 1998 paper connects C3 to only some S2 maps and has 1,516), then 400 -> 120 -> 84 -> 10
    expected = [conv_params(5, 1, 6), 0, 0, conv_params(5, 6, 16), 0, 0, 0,
                dense_params(16 * 5 * 5, 120), 0, dense_params(120, 84), 0, dense_params(84, 10)]
    assert expected[0] == 156 and expected[3] == 2416 and expected[7] == 48120
    s = lenet5().summary((1, 32, 32))
    assert [r[2] for r in s.rows] == expected
    assert [r[1] for r in s.rows][:7] == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10),
                                          (16, 10, 10), (16, 5, 5), (400,)]
    assert s.total_params == s.trainable_params == sum(expected) == 61706
    assert s.non_trainable_params == 0
    printed = capsys.readouterr().out
    assert printed.strip() == s.text.strip()
    for text in ("Conv2D(1, 6, kernel_size=5)", "(None, 6, 28, 28)", "Total params: 61,706",
                 "Trainable params: 61,706", "Non-trainable params: 0"):
        assert text in printed
    assert repr(s) == "Summary(total_params=61,706, trainable_params=61,706, non_trainable_params=0)"


def test_small_vgg_block_summary():
    model = Sequential(Conv2D(3, 64, 3, padding=1), ReLU(), Conv2D(64, 64, 3, padding=1), ReLU(),
                       MaxPool2D(2))
    s = model.summary((3, 32, 32), print_table=False)
    assert conv_params(3, 3, 64) == 1792 and conv_params(3, 64, 64) == 36928
    assert s.total_params == 1792 + 36928
    assert s.rows[-1][1] == (64, 16, 16)


def test_vgg16_summary_is_instant_and_allocates_nothing():
    convs, c = [], 3
    for v in VGG16_CONFIG:
        if v != "M":
            convs.append(conv_params(3, c, v))
            c = v
    total = sum(convs) + dense_params(25088, 4096) + dense_params(4096, 4096) + dense_params(4096, 1000)
    assert total == 138_357_544
    model = vgg16()
    start = time.perf_counter()
    s = model.summary((3, 224, 224), print_table=False)
    assert time.perf_counter() - start < 1.0
    assert s.total_params == s.trainable_params == 138_357_544
    assert s.rows[-1][1] == (1000,) and s.rows[-6][1] == (25088,)
    assert all(layer._params is None for layer in model.layers)   # no weights drawn


def test_batchnorm_and_frozen_layers_are_non_trainable_in_summary():
    model = Sequential(Conv2D(1, 4, 3), BatchNorm2D(4), ReLU(), Flatten(), Dense(4 * 6 * 6, 3))
    s = model.summary((1, 8, 8), print_table=False)
    assert s.non_trainable_params == 8                 # running mean and variance, 4 each
    assert s.trainable_params == 40 + 8 + dense_params(144, 3)
    model.layers[0].trainable = False                  # transfer learning: freeze the conv
    s = model.summary((1, 8, 8), print_table=False)
    assert s.non_trainable_params == 8 + 40
    assert s.total_params == 40 + 16 + dense_params(144, 3)


def test_summary_reports_the_failing_layer():
    model = Sequential(Conv2D(1, 4, 3), Flatten(), Dense(100, 10))
    with pytest.raises(ValueError, match=r"layer 2 \(Dense\(100, 10\)\) with input shape \(2704,\).*"
                                         r"in_features=100.*Dense\(2704, 10\)"):
        model.summary((1, 28, 28))


# --------------------------------------------------------------------------------------------
# composites
# --------------------------------------------------------------------------------------------
def inception(c_in):
    return Concat(
        Conv2D(c_in, 2, 1, rng=1),
        Sequential(Conv2D(c_in, 2, 1, rng=2), ReLU(), Conv2D(2, 3, 3, padding=1, rng=3)),
        Sequential(Conv2D(c_in, 1, 1, rng=4), Conv2D(1, 2, (1, 3), padding=(0, 1), rng=5)),
        Sequential(MaxPool2D(3, stride=1, padding=1), Conv2D(c_in, 1, 1, rng=6)))


def test_concat_shapes_and_gradients():
    block = inception(3)
    x = randn(2, 3, 5, 4)
    out = block.forward(x.astype(np.float32))
    assert out.shape == (2, 2 + 3 + 2 + 1, 5, 4) == (2, *block.output_shape((3, 5, 4)))
    errors = check_layer(block, x)
    assert max(errors.values()) < TOL, errors
    assert set(errors) == {"x", *block.params} and "3.1.W" in errors


def test_concat_spatial_mismatch_errors():
    block = Concat(Conv2D(3, 4, 3, padding=1), Conv2D(3, 4, 3))
    msg = r"same height and width.*branch 0 gives \(4, 6, 6\), branch 1 gives \(4, 4, 4\).*padding='same'"
    with pytest.raises(ValueError, match=msg):
        block.forward(np.zeros((1, 3, 6, 6), np.float32))
    with pytest.raises(ValueError, match=msg):
        block.output_shape((3, 6, 6))


def test_residual_identity_gradients():
    block = Residual(Sequential(Conv2D(3, 3, 3, padding=1, rng=1), ReLU(),
                                Conv2D(3, 3, (3, 1), padding=(1, 0), rng=2)))
    x = randn(2, 3, 5, 4)
    assert block.output_shape((3, 5, 4)) == (3, 5, 4)
    errors = check_layer(block, x)
    assert max(errors.values()) < TOL, errors
    assert set(errors) == {"x", "block.0.W", "block.0.b", "block.2.W", "block.2.b"}


def test_residual_projection_gradients():
    # ResNet's downsampling block: no conv bias before BatchNorm (BatchNorm removes it anyway,
    # so its gradient would be 0 and a relative error meaningless)
    block = Residual(Sequential(Conv2D(2, 4, 3, stride=2, padding=1, bias=False, rng=1),
                                BatchNorm2D(4), ReLU(), Conv2D(4, 4, 3, padding=1, rng=2)),
                     shortcut=Conv2D(2, 4, 1, stride=2, rng=3))
    x = randn(3, 2, 6, 5)
    assert block.output_shape((2, 6, 5)) == (4, 3, 3)
    errors = check_layer(block, x)
    assert max(errors.values()) < TOL, errors
    assert "shortcut.W" in errors and "block.1.gamma" in errors


def test_residual_shape_mismatch_suggests_a_projection():
    block = Residual(Conv2D(8, 16, 3, stride=2, padding=1))
    msg = (r"block gives \(16, 16, 16\) and the identity shortcut gives \(8, 32, 32\); use a "
           r"projection shortcut: Residual\(block, shortcut=Conv2D\(8, 16, kernel_size=1, stride=2\)\)")
    with pytest.raises(ValueError, match=msg):
        block.output_shape((8, 32, 32))
    with pytest.raises(ValueError, match=msg):
        block.forward(np.zeros((1, 8, 32, 32), np.float32))


def small_net():
    return Sequential(
        Conv2D(1, 3, 3, padding=1, bias=False, rng=1), BatchNorm2D(3), ReLU(),
        Residual(Sequential(Conv2D(3, 3, 3, padding=1, rng=2), ReLU())),
        inception(3), MaxPool2D(2), Dropout(0.25, rng=3), Flatten(), Dense(8 * 3 * 2, 4, rng=4))


def test_composites_nest_in_sequential_summary_and_gradients():
    model = small_net()
    s = model.summary((1, 6, 5), print_table=False)
    names = [r[0] for r in s.rows]
    assert names[3] == "Residual" and names[4] == "block: Sequential"     # nested rows follow
    assert "Concat" in names and "  - block: Sequential" in s.text
    top = [r for r in s.rows if r[3] == 0]
    assert sum(r[2] for r in top) == s.total_params
    assert s.non_trainable_params == 6
    errors = check_layer(randomize_biases(model), randn(3, 1, 6, 5))
    assert max(errors.values()) < TOL, errors
    assert set(errors) == {"x", *model.params}


def test_check_model_with_loss():
    model = Sequential(Conv2D(1, 2, 3, rng=1), ReLU(), AvgPool2D(2), Flatten(), Dense(2 * 3 * 3, 3, rng=2))
    x, y = randn(4, 1, 8, 8), np.array([0, 2, 1, 2])
    errors = check_model(model, SoftmaxCrossEntropy(), x, y)
    assert max(errors.values()) < TOL, errors
    assert set(errors) == {"x", "0.W", "0.b", "4.W", "4.b"}
    assert set(errors) == {"x", "0.W", "0.b", "4.W", "4.b"}


def test_parameters_and_state_dict_names():
    model = small_net()
    names = [p.name for p in model.parameters()]
    assert names[:3] == ["0.W", "1.gamma", "1.beta"]
    assert "3.block.0.W" in names and "4.1.2.W" in names
    state = model.state_dict()
    assert "1.running_mean" in state and "1.running_mean" not in names
    assert all(isinstance(v, np.ndarray) for v in state.values())


def test_trainable_flag_propagates_into_composites():
    model = small_net()
    model.layers[3].trainable = False
    assert model.layers[3].block.layers[0].trainable is False
    assert model.trainable                      # other layers still train
    model.trainable = False
    assert not any(p.trainable for p in model.parameters())


def test_predict_runs_in_evaluation_mode():
    model = Sequential(Flatten(), Dropout(0.5, rng=0), Dense(8, 3, rng=1))
    x = randn(20, 2, 2, 2).astype(np.float32)
    ref = model.forward(x, train=False)
    np.testing.assert_allclose(model.predict_proba(x), np.exp(ref) / np.exp(ref).sum(1, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_array_equal(model.predict(x), ref.argmax(1))


def test_save_load_keeps_float64(tmp_path):
    def net():
        return Sequential(Conv2D(1, 2, 3, rng=1), BatchNorm2D(2), Flatten(),
                          Dense(2 * 4 * 4, 3, rng=2)).astype(np.float64)
    a = net()
    a.forward(randn(4, 1, 6, 6))                  # moves the running statistics
    a.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        for k, v in a.state_dict().items():
            assert f[k].dtype == v.dtype == np.float64, k
    b = net()
    b.load(tmp_path / "m.npz")
    for k, v in a.state_dict().items():
        assert v.tobytes() == b.state_dict()[k].tobytes(), k


def test_predict_and_predict_proba():
    model = Sequential(Flatten(), Dense(4, 3, rng=0))
    x = randn(10, 1, 2, 2).astype(np.float32)
    proba = model.predict_proba(x, batch_size=3)
    assert proba.shape == (10, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x, batch_size=4), proba.argmax(axis=1))
    np.testing.assert_array_equal(model.predict(x), model.forward(x, train=False).argmax(axis=1))
    # unscaled images are refused, as fit and evaluate refuse them
    for predict in (model.predict, model.predict_proba):
        with pytest.raises(ValueError, match=r"dtype uint8; scale images to floats first"):
            predict((x * 255).astype(np.uint8))


# --------------------------------------------------------------------------------------------
# save / load
# --------------------------------------------------------------------------------------------
def test_save_load_round_trip_is_bit_exact(tmp_path):
    model = small_net()
    x = randn(5, 1, 6, 5).astype(np.float32)
    model.forward(x, train=True)               # moves the BatchNorm running statistics
    path = tmp_path / "net.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:   # reading it needs no pickle
        assert "__architecture__" in f.files and "0.W" in f.files
    other = small_net()
    for v in other.state_dict().values():
        v[...] = 0
    w_before = other.layers[0].params["W"]
    other.load(path)
    assert other.layers[0].params["W"] is w_before          # loaded in place
    for (k, a), (k2, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        assert a.tobytes() == b.tobytes(), k                  # bit-exact
    np.testing.assert_array_equal(model.forward(x, train=False), other.forward(x, train=False))


def test_load_into_a_mismatched_model_errors(tmp_path):
    path = tmp_path / "lenet.npz"
    lenet5().save(path)
    wider = Sequential(
        Conv2D(1, 8, 5), Tanh(), AvgPool2D(2), Conv2D(8, 16, 5), Tanh(), AvgPool2D(2),
        Flatten(), Dense(400, 120), Tanh(), Dense(120, 84), Tanh(), Dense(84, 10))
    with pytest.raises(ValueError, match=r"(?s)does not match this architecture.*'0.W' is \(6, 1, 5, 5\) "
                                         r"in the file but \(8, 1, 5, 5\) in the model.*saved from"):
        wider.load(path)
    shorter = Sequential(Conv2D(1, 6, 5), Tanh(), AvgPool2D(2))
    with pytest.raises(ValueError, match=r"the file has '11.W'"):
        shorter.load(path)


def test_load_adds_npz_like_save(tmp_path):
    model = small_net()
    model.save(tmp_path / "net")                  # np.savez writes net.npz
    assert (tmp_path / "net.npz").exists()
    other = small_net()
    for v in other.state_dict().values():
        v[...] = 0
    other.load(tmp_path / "net")
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert a.tobytes() == b.tobytes()
    with pytest.raises(FileNotFoundError):
        other.load(tmp_path / "missing")


def test_load_checks_the_layers_not_only_the_parameters(tmp_path):
    path = tmp_path / "a.npz"
    Sequential(Conv2D(1, 4, 3, rng=0), ReLU(), MaxPool2D(2), Flatten(), Dense(36, 3, rng=1)).save(path)
    same_params = Sequential(Conv2D(1, 4, 3), Tanh(), AvgPool2D(2), Flatten(), Dense(36, 3))
    with pytest.raises(ValueError, match=r"(?s)the parameters fit, but the file was saved from "
                                         r"other layers.*ReLU.*this model is.*Tanh.*strict=False"):
        same_params.load(path)
    same_params.load(path, strict=False)          # on purpose: the weights, whatever the layers
    w = same_params.layers[0].params["W"]
    with np.load(path) as f:
        np.testing.assert_array_equal(w, f["0.W"])
    # a frozen copy of the same architecture is the same architecture
    frozen = Sequential(Conv2D(1, 4, 3), ReLU(), MaxPool2D(2), Flatten(), Dense(36, 3))
    frozen.layers[0].trainable = False
    frozen.load(path)


def test_load_refuses_another_dtype_unless_told(tmp_path):
    path = tmp_path / "f64.npz"
    Sequential(Dense(4, 2, rng=0)).astype(np.float64).save(path)
    model = Sequential(Dense(4, 2))
    with pytest.raises(ValueError, match=r"'0.W' is float64 in the file but float32 in the model"):
        model.load(path)
    model.load(path, strict=False)
    assert model.layers[0].params["W"].dtype == np.float32


def test_residual_hint_rounds_the_stride_up():
    with pytest.raises(ValueError, match=r"kernel_size=1, stride=2\)\)"):
        Residual(Conv2D(4, 6, 3, stride=2, padding=1)).output_shape((4, 7, 7))


def test_summary_of_an_empty_model():
    s = Sequential().summary((1, 2, 2), print_table=False)
    assert s.total_params == 0 and "Total params: 0" in s.text


def _grads(model):
    return {k: v.copy() for k, v in model.grads.items()}


def test_backward_without_the_input_gradient_skips_only_dx():
    # training needs no gradient of the images: the first convolution then skips its dx,
    # and every parameter gradient is the same as with it
    rng = np.random.default_rng(0)
    inner = Sequential(Conv2D(2, 3, 3, padding=1, rng=1), ReLU())
    model = Sequential(inner, MaxPool2D(2), Flatten(), Dense(3 * 3 * 3, 4, rng=2))
    x = rng.standard_normal((5, 2, 6, 7)).astype(np.float32)
    out = model.forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = model.backward(dout)
    with_dx = _grads(model)
    assert dx.shape == x.shape
    assert model.backward(dout, input_grad=False) is None          # reached the nested Conv2D
    without = _grads(model)
    assert with_dx.keys() == without.keys() and len(without) == 4
    for k in with_dx:
        np.testing.assert_array_equal(with_dx[k], without[k])
    # the switch lasts for that call only
    assert inner.needs_input_grad and inner.layers[0].needs_input_grad
    np.testing.assert_array_equal(model.backward(dout), dx)


def test_backward_without_the_input_gradient_still_works_for_other_first_layers():
    rng = np.random.default_rng(1)
    model = Sequential(Flatten(), Dense(12, 3, rng=3))
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    dout = rng.standard_normal(model.forward(x).shape).astype(np.float32)
    dx = model.backward(dout, input_grad=False)                   # Flatten has nothing to skip
    np.testing.assert_array_equal(dx, model.backward(dout))


# --- issue 29: files that are not saved models, damaged files, and saving safely ------------

def _saved(tmp_path, name="net.npz"):
    model = small_net()
    model.forward(randn(3, 1, 6, 5).astype(np.float32), train=True)
    return model, model.save(tmp_path / name)


def test_load_a_text_file_says_it_is_not_a_saved_model(tmp_path):
    """It said the file "contains pickled data" (numpy's guess for any unknown file)."""
    path = tmp_path / "notes.txt"
    path.write_text("hello, these are my notes")
    with pytest.raises(ValueError, match=r"notes.txt is not a saved model .*neither an .npz nor "
                                         r"an .npy file \(it starts with b'hello, these"):
        small_net().load(path)


def test_load_a_pickle_refuses_to_unpickle_it(tmp_path):
    import pickle
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"0.W": np.zeros(3)}))
    with pytest.raises(ValueError, match=r"weights.pkl is not a saved model.*pickled data.*never "
                                         r"unpickles"):
        small_net().load(path)


def test_load_an_npz_with_an_object_array_inside(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, **{"0.W": np.array([None, 1.0], dtype=object)})
    with pytest.raises(ValueError, match=r"obj.npz holds an object array.*never unpickles"):
        small_net().load(path)


def test_load_an_npy_file(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"one.npy is not a saved model.*single array of shape "
                                         r"\(2, 3\)"):
        small_net().load(path)


@pytest.mark.parametrize("cut", [0, 10, 0.5, -1])
def test_load_a_truncated_file_says_it_is_damaged(tmp_path, cut):
    """A truncated .npz raised a raw BadZipFile (or EOFError for an empty file)."""
    _, path = _saved(tmp_path)
    data = open(path, "rb").read()
    n = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(data[:n])
    with pytest.raises(ValueError, match=r"damaged.npz is damaged \(truncated or corrupted\).*"
                                         r"save the model again"):
        small_net().load(damaged)


def test_load_a_corrupted_file_says_it_is_damaged(tmp_path):
    _, path = _saved(tmp_path)
    data = bytearray(open(path, "rb").read())
    data[120] ^= 0xFF                                  # inside the first array's data
    damaged = tmp_path / "flipped.npz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"flipped.npz is damaged"):
        small_net().load(damaged)


def test_load_an_npz_that_sequential_did_not_write(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3), b=np.ones(2))
    with pytest.raises(ValueError, match=r"(?s)other.npz: the saved model does not match.*no "
                                         r"__architecture__ entry.*the file has 'a'"):
        small_net().load(path)


def test_load_a_file_with_text_where_weights_belong(tmp_path):
    model, path = _saved(tmp_path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["0.W"] = np.full(arrays["0.W"].shape, "x")
    np.savez(tmp_path / "text.npz", **arrays)
    with pytest.raises(ValueError, match=r"'0.W' holds <U1 values in the file, not numbers"):
        small_net().load(tmp_path / "text.npz", strict=False)


def test_save_then_load_gives_bit_identical_outputs(tmp_path):
    model, path = _saved(tmp_path)
    x = randn(4, 1, 6, 5).astype(np.float32)
    other = small_net()
    other.load(path)
    assert model.forward(x, train=False).tobytes() == other.forward(x, train=False).tobytes()


def test_save_writes_no_temporary_file_and_replaces_an_earlier_one(tmp_path):
    first, path = _saved(tmp_path)
    second = small_net()
    for v in second.state_dict().values():
        v[...] = 1
    assert second.save(path) == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]
    loaded = small_net().load(path)
    assert all((v == 1).all() for v in loaded.state_dict().values())


def test_a_save_that_fails_half_way_leaves_the_earlier_file_intact(tmp_path, monkeypatch):
    """Disk full, simulated: the write raises OSError after some bytes. The earlier file is
    untouched (the new one went to a temporary file, renamed only when whole), and the
    temporary file is removed."""
    import errno
    import os

    model, path = _saved(tmp_path)
    before = open(path, "rb").read()
    real_fdopen = os.fdopen

    class DiskFull:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written + len(data) > 100:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: DiskFull(real_fdopen(fd, mode)))
    changed = small_net()
    for v in changed.state_dict().values():
        v[...] = 7
    with pytest.raises(OSError, match="No space left"):
        changed.save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]
    small_net().load(path)                             # still a good saved model


def test_predict_on_an_empty_batch():
    """np.concatenate of no batches raised 'need at least one array to concatenate'."""
    model = small_net()
    x = np.zeros((0, 1, 6, 5), np.float32)
    assert model.predict(x).shape == (0,)
    assert model.predict_proba(x).shape[0] == 0


def test_predict_refuses_complex_and_object_images():
    model = small_net()
    with pytest.raises(TypeError, match=r"x must hold real numbers .*complex"):
        model.predict(np.ones((1, 1, 6, 5), complex))
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        model.predict(np.ones((1, 1, 6, 5), np.float32), batch_size=0)
