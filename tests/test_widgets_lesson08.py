"""Lesson 14 widgets, driven from code: set a control's value, check what the learner would see."""
import numpy as np
import pytest

from helpers.exercises import lesson12, lesson14
from helpers.widgets.feature_maps import feature_map_explorer, tile_maps
from helpers.widgets.saliency import saliency_explorer

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 1, 28, 28)).astype(np.float32)
    y = np.array([0, 1, 7, 9, 6, 3])
    raw = (rng.random((6, 28, 28)) * 255).astype(np.uint8)
    return x, y, raw


@pytest.fixture(scope="module")
def models():
    return {"SimpleConvNet": lesson12.simple_convnet(seed=0), "deeper": lesson14.deeper_convnet(seed=0)}


# --- tile_maps -------------------------------------------------------------------------------

def test_tile_maps_places_each_channel_and_leaves_nan_gaps():
    maps = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    mosaic, (nr, nc) = tile_maps(maps, ncols=3)
    assert (nr, nc) == (2, 3) and mosaic.shape == (2 * 3 - 1, 3 * 4 - 1)
    assert np.array_equal(mosaic[0:2, 4:7], maps[1])
    assert np.array_equal(mosaic[3:5, 4:7], maps[4])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[3:5, 8:11]).all()   # gap row, unused cell
    mosaic, (nr, nc) = tile_maps(np.zeros((30, 24, 24)))
    assert nr * nc >= 30
    with pytest.raises(ValueError):
        tile_maps(np.zeros((3, 4)))


# --- feature-map explorer ------------------------------------------------------------------------

def test_feature_map_explorer_builds_and_follows_its_controls(models, images):
    x, y, raw = images
    w = feature_map_explorer(models, x, y, NAMES, pixels=raw)
    assert set(w.controls) == {"model", "image", "layer"}
    assert w.state["model"] == "SimpleConvNet" and w.state["shape"] == (30, 24, 24)
    assert w.image.value[:4] == PNG and "5×5 input patch" in w.caption.value
    # Flatten only reshapes: it is not offered
    offered = [v for _, v in w.controls["layer"].options]
    assert offered == [0, 1, 2, 4, 5, 6]

    w.controls["layer"].value = 2
    assert w.state["shape"] == (30, 12, 12) and w.state["receptive_field"] == (6, 2, 0)
    assert "12×12" in w.caption.value and "6×6" in w.caption.value
    first_png = w.image.value

    w.controls["image"].value = 3
    assert w.state["index"] == 3 and w.state["label"] == 9 and w.image.value != first_png
    expected = models["SimpleConvNet"].predict(x[3:4])[0]
    assert w.state["predicted"] == expected

    w.controls["layer"].value = 4                       # Dense(4320, 100): no map any more
    assert w.state["shape"] == (100,) and w.state["receptive_field"] is None
    assert "whole image" in w.caption.value
    w.controls["layer"].value = 6                       # the scores
    assert w.state["shape"] == (10,)
    assert np.allclose(w.state["maps"], models["SimpleConvNet"].forward(x[3:4], train=False)[0], atol=1e-5)


def test_feature_map_explorer_switches_models_and_keeps_a_valid_layer(models, images):
    x, y, raw = images
    w = feature_map_explorer(models, x, y, NAMES, pixels=raw, layer=2)
    assert w.state["layer"] == 2
    w.controls["model"].value = "deeper"
    assert w.state["model"] == "deeper" and w.state["layer"] == 2 and w.state["shape"] == (8, 14, 14)
    assert [v for _, v in w.controls["layer"].options] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    w.controls["layer"].value = 8
    assert w.state["shape"] == (32, 3, 3) and w.state["receptive_field"] == (22, 8, -7)
    w.controls["model"].value = "SimpleConvNet"          # layer 8 does not exist there: falls back to 0
    assert w.state["layer"] == 0 and w.state["shape"] == (30, 24, 24)
    assert len(w.timing) >= 4


def test_feature_map_explorer_accepts_a_single_model_and_checks_shapes(models, images):
    x, y, _ = images
    w = feature_map_explorer(models["deeper"], x, y, NAMES)
    assert w.controls["model"].layout.display == "none" and w.state["model"] == "network"
    with pytest.raises(ValueError):
        feature_map_explorer(models["deeper"], x[:, 0], y, NAMES)
    with pytest.raises(ValueError):
        feature_map_explorer(models["deeper"], x, y[:3], NAMES)


def _full_drawing(fig):
    """The figure drawn in full, every part included (the explorers animate the parts that
    change, which a plain drawing leaves out): an (H, W, 4) int array."""
    moving = fig.findobj(lambda a: a.get_animated())
    for artist in moving:
        artist.set_animated(False)
    fig.canvas.draw()
    full = np.asarray(fig.canvas.buffer_rgba()).astype(int)
    for artist in moving:
        artist.set_animated(True)
    return full


def test_feature_map_explorer_computes_each_image_once_and_keeps_its_figure(models, images, monkeypatch):
    from helpers import interpret
    x, y, raw = images
    calls = []
    activations = interpret.activations
    monkeypatch.setattr(interpret, "activations",
                        lambda m, xs, layer, **kw: calls.append(layer) or activations(m, xs, layer, **kw))
    w = feature_map_explorer(models, x, y, NAMES, pixels=raw, index=0, layer=0)
    fig = w.figure
    first = (w.image.value, w.caption.value, w.state["maps"])
    for i in (1, 2, 1, 2, 0):                            # 1 and 2 are new, then all seen before
        w.controls["image"].value = i
    assert calls == [0, 0, 0]
    assert w.image.value == first[0] and w.caption.value == first[1] and w.state["maps"] is first[2]
    axes = list(fig.axes)
    mosaic = axes[1].images[0]
    w.controls["image"].value = 1                        # the same figure, changed in place
    assert list(fig.axes) == axes and list(axes[1].images) == [mosaic] and len(axes[0].images) == 1
    np.testing.assert_allclose(np.nanmax(mosaic.get_array()), w.state["maps"].max())

    w.controls["layer"].value = 6                        # another layer: other maps
    w.controls["image"].value = 0
    w.controls["layer"].value = 0                        # back: kept
    assert calls == [0, 0, 0, 6, 6]
    assert w.image.value == first[0]
    w.controls["model"].value = "deeper"                 # another network: other maps
    assert calls[-1] == 0 and len(calls) == 6 and w.state["shape"] == (8, 28, 28)
    assert len(w.timing) == 11


def test_feature_map_explorer_keeps_a_bounded_number_of_maps_and_follows_training(images, monkeypatch):
    from helpers import interpret
    from helpers.widgets import feature_maps
    x, y, raw = images
    monkeypatch.setattr(feature_maps, "CACHE_SIZE", 3)
    calls = []
    activations = interpret.activations
    monkeypatch.setattr(interpret, "activations", lambda *a, **kw: calls.append(1) or activations(*a, **kw))
    m = lesson12.simple_convnet(seed=1)
    w = feature_map_explorer(m, x, y, NAMES, pixels=raw, index=0, layer=2)
    for i in (1, 2, 3, 2):                               # 4 images, 3 kept: 2 still is
        w.controls["image"].value = i
    assert len(calls) == 4
    w.controls["image"].value = 0                        # dropped: computed again
    assert len(calls) == 5
    before = w.state["maps"]
    for p in m.params.values():                          # "trained" since: never shown stale
        p[...] *= 1.5
    w.controls["image"].value = 2
    w.controls["image"].value = 0
    assert len(calls) == 7
    assert not np.allclose(w.state["maps"], before)
    np.testing.assert_allclose(w.state["maps"], interpret.activations(m, x[:1], 2)[0], atol=1e-5)


def test_feature_map_explorer_blitted_picture_is_the_full_drawing(models, images):
    """The explorer draws only what changes on a kept background (and pastes the channel numbers
    as one picture); the picture must be what a drawing of the whole figure shows: up to a few
    pixels where tick marks meet the frames, and the channel numbers' boxes within rounding."""
    import io

    from PIL import Image
    x, y, raw = images
    w = feature_map_explorer(models, x, y, NAMES, pixels=raw, index=0, layer=0)
    moves = [("image", 3), ("image", 4), ("layer", 2), ("image", 5), ("layer", 4), ("image", 1),
             ("layer", 6), ("image", 2), ("image", 1), ("model", "deeper"), ("layer", 8),
             ("image", 3), ("model", "SimpleConvNet"), ("image", 3), ("image", 4)]  # the last: revisits
    for name, value in [(None, None), *moves]:
        if name:
            w.controls[name].value = value
        shown = np.asarray(Image.open(io.BytesIO(w.image.value)).convert("RGBA")).astype(int)
        full = _full_drawing(w.figure)
        assert shown.shape == full.shape
        differ = np.abs(shown - full).max(axis=-1)
        assert (differ > 3).sum() < 30 and differ.max() < 40, (name, value, (differ > 3).sum(), differ.max())


# --- saliency explorer ---------------------------------------------------------------------------

def test_saliency_explorer_builds_and_follows_its_controls(models, images):
    x, y, raw = images
    m = models["SimpleConvNet"]
    w = saliency_explorer(m, x, y, NAMES, pixels=raw, index=1)
    assert set(w.controls) == {"image", "target", "patch", "measure", "smooth"}
    s = w.state
    assert s["index"] == 1 and s["label"] == 1 and s["target"] == 1           # "true class"
    assert np.allclose(s["probs"], m.predict_proba(x[1:2])[0])
    assert s["occlusion"].grid.shape == (12, 12) and s["saliency"].shape == (28, 28)
    assert w.image.value[:4] == PNG and "Trouser" in w.caption.value

    w.controls["target"].value = "predicted class"
    assert w.state["target"] == w.state["predicted"]
    w.controls["target"].value = "Bag"
    assert w.state["target"] == 8 and w.state["target_name"] == "Bag" and "p(Bag)" in w.caption.value

    w.controls["patch"].value = 10
    assert w.state["occlusion"].grid.shape == (10, 10) and w.state["patch_size"] == 10
    assert "10×10" in w.caption.value
    assert w.state["measure"] == "logit" and "score (logit" in w.caption.value
    w.controls["measure"].value = "probability"
    occ = w.state["occlusion"]
    assert occ.score == "probability" and np.isclose(occ.base, w.state["probs"][8])
    assert "lowers it by up to" in w.caption.value

    plain = w.state["saliency"].copy()
    w.controls["smooth"].value = True
    assert w.state["smooth"] and not np.allclose(w.state["saliency"], plain)

    w.controls["image"].value = 4
    assert w.state["index"] == 4 and w.state["label"] == 6
    r, c = w.state["saliency_peak"]
    assert w.state["saliency"][r, c] == w.state["saliency"].max()
    assert len(w.timing) >= 6


def test_saliency_explorer_rejects_bad_arguments(models, images):
    x, y, _ = images
    with pytest.raises(ValueError, match="target"):
        saliency_explorer(models["SimpleConvNet"], x, y, NAMES, target="Hat")
    with pytest.raises(ValueError, match="measure"):
        saliency_explorer(models["SimpleConvNet"], x, y, NAMES, measure="loss")
    with pytest.raises(ValueError):
        saliency_explorer(models["SimpleConvNet"], x[:, 0], y, NAMES)


def test_saliency_explorer_computes_each_setting_once_and_keeps_its_figure(models, images, monkeypatch):
    from helpers import interpret
    x, y, raw = images
    calls = {"occlusion": [], "gradient": []}
    occlusion_map, gradient_saliency = interpret.occlusion_map, interpret.gradient_saliency

    def counted_occlusion(model, image, target, **kw):
        calls["occlusion"].append((target, kw["patch_size"], kw["score"]))
        return occlusion_map(model, image, target, **kw)

    def counted_gradient(model, image, target, **kw):
        calls["gradient"].append((target, kw["n_samples"]))
        return gradient_saliency(model, image, target, **kw)

    monkeypatch.setattr(interpret, "occlusion_map", counted_occlusion)
    monkeypatch.setattr(interpret, "gradient_saliency", counted_gradient)
    w = saliency_explorer(models["SimpleConvNet"], x, y, NAMES, pixels=raw, index=1)
    fig, pictures, axes = w.figure, [ax.images[0] for ax in w.figure.axes[:3]], list(w.figure.axes)
    assert len(calls["occlusion"]) == len(calls["gradient"]) == 1
    first = (w.image.value, w.caption.value, w.state["occlusion"], w.state["saliency"])

    w.controls["patch"].value = 10                      # new occlusion map, same gradient
    assert len(calls["occlusion"]) == 2 and len(calls["gradient"]) == 1
    w.controls["smooth"].value = True                   # new gradient, same occlusion map
    assert len(calls["occlusion"]) == 2 and len(calls["gradient"]) == 2
    w.controls["image"].value = 2
    assert len(calls["occlusion"]) == 3 and len(calls["gradient"]) == 3
    tenth = w.image.value

    # back to settings seen before: nothing is computed again, the picture is the same
    w.controls["image"].value = 1
    w.controls["smooth"].value = False
    w.controls["patch"].value = 6
    assert len(calls["occlusion"]) == 3 and len(calls["gradient"]) == 3
    assert w.state["occlusion"] is first[2] and w.state["saliency"] is first[3]
    assert w.image.value == first[0] and w.caption.value == first[1]
    w.controls["patch"].value = 10
    w.controls["smooth"].value = True
    w.controls["image"].value = 2
    assert w.image.value == tenth
    assert len(calls["occlusion"]) == 3 and len(calls["gradient"]) == 3

    # another class to explain is another map; the measure too
    w.controls["target"].value = "Bag"
    w.controls["measure"].value = "probability"
    assert calls["occlusion"][-2:] == [(8, 10, "logit"), (8, 10, "probability")]
    assert len(w.timing) == 12

    # one figure throughout, changed in place
    assert w.figure is fig and list(fig.axes) == axes
    assert [ax.images[0] for ax in fig.axes[:3]] == pictures and all(len(ax.images) == 1 for ax in fig.axes[:3])
    assert np.allclose(pictures[1].get_array(), w.state["occlusion"].heat)


def test_saliency_explorer_keeps_a_bounded_number_of_maps(models, images, monkeypatch):
    from helpers import interpret
    from helpers.widgets import saliency
    x, y, raw = images
    monkeypatch.setattr(saliency, "CACHE_SIZE", 4)
    count = []
    occlusion_map = interpret.occlusion_map
    monkeypatch.setattr(interpret, "occlusion_map", lambda *a, **kw: count.append(1) or occlusion_map(*a, **kw))
    w = saliency_explorer(models["SimpleConvNet"], x, y, NAMES, pixels=raw, index=0)
    for i in (1, 2, 3, 4, 5):                           # 5 more images: 10 maps, 4 kept
        w.controls["image"].value = i
    assert len(count) == 6
    w.controls["image"].value = 4                       # still kept
    assert len(count) == 6
    w.controls["image"].value = 0                       # dropped long ago: computed again
    assert len(count) == 7


@pytest.mark.parametrize("names", [NAMES, [n + " (a long name)" for n in NAMES]])
def test_saliency_explorer_blitted_picture_is_the_full_drawing(models, images, names):
    """The explorer draws only what changes on a kept background, and copies back the pixels of
    titles it has drawn before; the picture must be what a drawing of the whole figure shows (up
    to a few pixels where tick marks meet the frames). Long names make the titles overlap."""
    import io

    from PIL import Image
    x, y, raw = images
    w = saliency_explorer(models["SimpleConvNet"], x, y, names, pixels=raw, index=3, target=names[8])

    def full_drawing():
        moving = w.figure.findobj(lambda a: a.get_animated())
        for artist in moving:
            artist.set_animated(False)
        w.figure.canvas.draw()
        full = np.asarray(w.figure.canvas.buffer_rgba()).astype(int)
        for artist in moving:
            artist.set_animated(True)
        return full

    moves = [("image", 4), ("patch", 4), ("image", 2), ("target", "predicted class"), ("image", 3),
             ("patch", 6), ("image", 4), ("target", names[8])]      # the last two: revisits
    for name, value in [(None, None), *moves]:
        if name:
            w.controls[name].value = value
        blitted = np.asarray(Image.open(io.BytesIO(w.image.value)).convert("RGBA")).astype(int)
        full = full_drawing()
        assert blitted.shape == full.shape
        differ = np.abs(blitted - full).max(axis=-1)
        assert (differ > 0).sum() < 60 and differ.max() < 40, (name, value, (differ > 0).sum(), differ.max())
