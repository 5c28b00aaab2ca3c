"""Your own image as Fashion-MNIST (lesson 15): decode an upload or a drawing, then convert it.

The Fashion-MNIST authors made their 28 x 28 images from product photos on a light background
(Xiao, Rasul and Vollgraf 2017, arXiv:1708.07747, section 2). ``to_fashion_mnist`` follows the
same six steps, so a photo or a drawing reaches the network in the form it was trained on:

1. trim: cut away the border whose colour is close to the corner colour (within 5 % of the
   largest possible distance in RGB space, black to white);
2. resize: the longest edge becomes 28 pixels, the other keeps the aspect ratio;
3. sharpen: an unsharp mask with a Gaussian of radius (standard deviation) 1.0, which acts
   most near outlines;
4. extend: the short edge grows to 28, the image centred, the new border in the corner colour;
5. negate: light becomes dark and dark light (the garment light on black, as in the data set);
6. greyscale: one channel, 8 bits (0 to 255), ``L = 0.299 R + 0.587 G + 0.114 B``.

One difference: the paper resizes by skipping rows and columns. That keeps one pixel in every
few and can drop a thin stroke of a drawing entirely, so step 2 averages each block of pixels
instead (``resample="area"``); ``resample="skip"`` does what the paper says.

Decoding (``decode_image`` for uploaded bytes, ``decode_drawing`` for a drawing pad) applies the
EXIF orientation, puts transparent pixels on white and accepts any mode Pillow reads (RGB, RGBA,
CMYK, palette, 16-bit, greyscale). Every input this module refuses raises :class:`InputError`
(a ``ValueError``) with a message a learner can act on: a file that is not an image, a truncated
file, a decompression bomb, a file over ``MAX_BYTES``, an image smaller than ``MIN_SIDE``, an
empty canvas, a blank photo. Importing the module changes no setting of Pillow.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps

__all__ = ["SIZE", "MAX_BYTES", "MAX_PIXELS", "MIN_SIDE", "TRIM_TOLERANCE", "STEPS", "InputError",
           "decode_image", "decode_drawing", "to_fashion_mnist", "standardise", "number_argument"]

SIZE = 28                          #: the side of a Fashion-MNIST image (pixels)
MAX_BYTES = 10 * 1024 * 1024       #: the largest upload accepted: 10 MB
MAX_PIXELS = 40_000_000            #: the largest image accepted (width x height): 40 megapixels
MIN_SIDE = 8                       #: the smallest width or height accepted (pixels)
TRIM_TOLERANCE = 0.05              #: "close to the corner colour": within 5 % of black-to-white
#: The names of the steps ``to_fashion_mnist(..., steps=True)`` returns, in order.
STEPS = ("input", "trimmed", "resized", "sharpened", "extended", "negated", "greyscale")
_RESAMPLE = ("area", "skip")
_GREY = np.array([0.299, 0.587, 0.114])     # ITU-R 601-2 luma, as Pillow's convert("L")


class InputError(ValueError):
    """An image the course cannot use, with a message that says why and what to do."""


def number_argument(value, name, low=None, high=None, integer=False):
    """value as a float (int with integer=True); TypeError or ValueError naming ``name``.
    Shared with helpers.widgets.own_input."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'a whole number' if integer else 'a number'}, "
                        f"got {type(value).__name__} {value!r:.40}")
    try:
        value = int(value) if integer else float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r:.40}") from None
    if (not integer and not np.isfinite(value)) or (low is not None and value < low) or \
            (high is not None and value > high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

def _check_size(width, height):
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InputError(f"The image is only {width} x {height} pixels. It needs at least "
                         f"{MIN_SIDE} pixels on each side to show a garment.")
    if width * height > MAX_PIXELS:
        raise InputError(f"The image has {width} x {height} = {width * height / 1e6:.0f} million "
                         f"pixels, more than the {MAX_PIXELS / 1e6:.0f} million accepted. "
                         f"Make it smaller first.")


def _to_rgb(img):
    """A Pillow image in any mode -> (H, W, 3) float64 in 0..1, transparent parts on white."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if (img.mode.startswith("I;16") or a.max() > 255) else 255.0
        if img.mode == "F":
            top = max(float(np.nanmax(a)), 1.0) if np.isfinite(a).all() else 1.0
        grey = np.clip(np.nan_to_num(a / top), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + (1.0 - alpha)          # composited over white
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def decode_image(data):
    """Uploaded file contents -> the image as (H, W, 3) float64 RGB in 0..1.

    data: bytes (or bytearray / memoryview) of an image file in any format Pillow reads.
    The EXIF orientation is applied (a phone photo comes out the right way up); transparent
    pixels are put on white; 16-bit images are scaled to 0..1. Large JPEGs are decoded at a
    reduced size (Pillow's draft mode), which is all that 28 x 28 needs.

    Raises TypeError when data is not bytes, and InputError (a ValueError) with a clear message
    when the file is empty, over ``MAX_BYTES``, not an image, truncated or damaged, a
    decompression bomb (more pixels than Pillow allows, or than ``MAX_PIXELS``), or smaller
    than ``MIN_SIDE`` pixels on a side.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be the bytes of an image file, got {type(data).__name__}")
    if len(data) == 0:
        raise InputError("The file is empty (0 bytes). Choose an image file.")
    if len(data) > MAX_BYTES:
        raise InputError(f"The file is {len(data) / 2**20:.1f} MB; the limit is "
                         f"{MAX_BYTES / 2**20:.0f} MB. Save a smaller version and upload that.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)     # "Corrupt EXIF data", ...: decode if it can
            # Pillow warns above Image.MAX_IMAGE_PIXELS and raises above twice that: refuse both
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)))
            _check_size(*img.size)
            img.draft("RGB", (8 * SIZE, 8 * SIZE))           # JPEG only: decode at 1/2 .. 1/8 size
            img.load()
            img = ImageOps.exif_transpose(img)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"The file says it holds a huge image ({exc}). This is how a "
                         f"'decompression bomb' looks, so it is not opened.") from None
    except Image.UnidentifiedImageError:
        raise InputError("This file is not an image that Pillow can read. Upload a PNG, JPEG, "
                         "GIF, BMP, TIFF or WebP file.") from None
    except Exception as exc:            # OSError, SyntaxError, EOFError, ...: whatever a decoder says

        what = "truncated (cut off before its end)" if "truncated" in str(exc) else "damaged"
        raise InputError(f"The image file is {what} and cannot be decoded ({exc}). "
                         f"Save it again and upload the new file.") from None
    _check_size(*img.size)
    return _to_rgb(img)


def decode_drawing(rgba, background=255):
    """A drawing pad's pixels -> (H, W, 3) float64 RGB in 0..1.

    rgba: (H, W, 4) or (H, W, 3) uint8 (what a canvas gives), or (H, W) greyscale uint8;
    transparent pixels count as white. background: the pad's colour (0..255), to see whether
    anything was drawn. Raises TypeError / ValueError for arrays of another shape or type, and
    InputError when nothing differs from the background (an empty canvas).
    """
    background = number_argument(background, "background", 0, 255)
    if not isinstance(rgba, np.ndarray):
        raise TypeError(f"rgba must be a numpy array of uint8, got {type(rgba).__name__}")
    a = rgba
    if a.dtype != np.uint8:
        raise TypeError(f"rgba must be a uint8 array (0..255), got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"rgba must have shape (H, W, 4), (H, W, 3) or (H, W); got {a.shape}")
    _check_size(a.shape[1], a.shape[0])
    rgb = a[..., :3].astype(np.float64) / 255.0
    if a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float64) / 255.0
        rgb = rgb * alpha + (1.0 - alpha)
    if np.abs(rgb - background / 255.0).max() < 1 / 255:
        raise InputError("The canvas is empty. Draw a garment with the mouse first.")
    return rgb


# ---------------------------------------------------------------------------------------------
# The six steps
# ---------------------------------------------------------------------------------------------

def _as_rgb(image):
    """bytes, a Pillow image, or an array (H, W) / (H, W, 3) / (H, W, 4) -> (H, W, 3) in 0..1."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(image)
    if isinstance(image, Image.Image):
        _check_size(*image.size)
        return _to_rgb(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be bytes, a PIL image or a numpy array, got {type(image).__name__}")
    a = image
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"image must hold numbers (uint8 0..255 or float 0..1), got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4); got {image.shape}")
    _check_size(a.shape[1], a.shape[0])
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"an integer image must hold 0..255, got {a.min()}..{a.max()}")
        a = a.astype(np.float64) / 255.0
    else:
        a = a.astype(np.float64)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError("a float image must hold finite values in 0..1")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        a = a[..., :3] * a[..., 3:] + (1.0 - a[..., 3:])
    return a


def _corner_colour(rgb):
    corners = np.stack([rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]])
    return np.median(corners, axis=0)


def _trim(rgb, corner):
    far = np.linalg.norm(rgb - corner, axis=2) > TRIM_TOLERANCE * np.sqrt(3.0)
    rows, cols = np.flatnonzero(far.any(axis=1)), np.flatnonzero(far.any(axis=0))
    if rows.size == 0:
        return None
    return rgb[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _pil(rgb):
    return Image.fromarray(np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8), "RGB")


def _resize(rgb, resample):
    h, w = rgb.shape[:2]
    scale = SIZE / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if resample == "skip":                       # keep one row (column) in every few
        rows = np.minimum((np.arange(nh) + 0.5) * h / nh, h - 1).astype(int)
        cols = np.minimum((np.arange(nw) + 0.5) * w / nw, w - 1).astype(int)
        return rgb[rows][:, cols]
    # "area": each new pixel is the mean of the block of old pixels it covers
    return np.asarray(_pil(rgb).resize((nw, nh), Image.Resampling.BOX), dtype=np.float64) / 255.0


def _sharpen(rgb):
    sharp = _pil(rgb).filter(ImageFilter.UnsharpMask(radius=1.0, percent=100, threshold=0))
    return np.asarray(sharp, dtype=np.float64) / 255.0


def _extend(rgb, corner):
    h, w = rgb.shape[:2]
    out = np.empty((SIZE, SIZE, 3))
    out[:] = corner
    top, left = (SIZE - h) // 2, (SIZE - w) // 2
    out[top:top + h, left:left + w] = rgb
    return out


def to_fashion_mnist(image, steps=False, resample="area"):
    """Any image -> a (28, 28) uint8 image like Fashion-MNIST's: light garment on black.

    image: the bytes of an image file (decoded with ``decode_image``), a PIL image, or an array
    (H, W), (H, W, 3) or (H, W, 4), uint8 in 0..255 or float in 0..1 (what ``decode_image`` and
    ``decode_drawing`` return). The object should stand on a light, even background, as the
    products in the data set did. The six steps are the paper's (the module's docstring):
    trim, resize the longest edge to 28, sharpen, extend the short edge to 28 (centred),
    negate, 8-bit greyscale. resample: "area" (average each block) or "skip" (keep every few
    rows and columns, as the paper).

    steps: False -> the (28, 28) uint8 result; True -> a dict of every step's image by the names
    in ``STEPS`` (float RGB in 0..1 up to "negated", then the uint8 result).
    Raises TypeError or ValueError (naming the argument) for input of a wrong type or shape,
    and InputError for an image that is blank: nothing differs from its corner colour.
    """
    if not isinstance(resample, str) or resample not in _RESAMPLE:
        raise ValueError(f"resample must be one of {_RESAMPLE}, got {resample!r}")
    if not isinstance(steps, (bool, np.bool_)):
        raise TypeError(f"steps must be True or False, got {steps!r}")
    rgb = _as_rgb(image)
    corner = _corner_colour(rgb)
    trimmed = _trim(rgb, corner)
    if trimmed is None:
        raise InputError("The image is blank: every pixel has the colour of its corners, so there "
                         "is no object to cut out. Photograph the garment on a plain background.")
    resized = _resize(trimmed, resample)
    sharpened = _sharpen(resized)
    extended = _extend(sharpened, corner)
    negated = 1.0 - extended
    grey = np.clip(np.round((negated @ _GREY) * 255), 0, 255).astype(np.uint8)
    if not steps:
        return grey
    return dict(zip(STEPS, (rgb, trimmed, resized, sharpened, extended, negated, grey)))


def standardise(image28, mean, std):
    """A (28, 28) uint8 image -> the network's input (1, 1, 28, 28) float32, standardised as
    the training data were: (pixels / 255 - mean) / std, with the training set's mean and std
    (``lesson12.FashionData``'s ``mean`` and ``std``)."""
    if not isinstance(image28, np.ndarray):
        raise TypeError(f"image28 must be a numpy array (28, 28), got {type(image28).__name__}")
    a = image28
    if a.shape != (SIZE, SIZE):
        raise ValueError(f"image28 must have shape ({SIZE}, {SIZE}), got {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)) or a.dtype == np.bool_:
        raise TypeError(f"image28 must hold numbers 0..255, got dtype {a.dtype}")
    mean = number_argument(mean, "mean")
    std = number_argument(std, "std")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    x = (a.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)
    return x[None, None]
