"""Lesson 08 widgets, driven from code: set a control's value, check what the learner would see."""
import numpy as np
import pytest

from helpers.exercises import lesson07, lesson08
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
    return {"SimpleConvNet": lesson07.simple_convnet(seed=0), "deeper": lesson08.deeper_convnet(seed=0)}


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
