"""Data for the course: Fashion-MNIST and a real photograph, with their sources and checks.

Fashion-MNIST (Xiao, Rasul and Vollgraf, Zalando Research, 2017; MIT licence) comes from the
first of these that has it:

1. the cache under ``data/fashion-mnist/`` (filled by the course set-up);
2. Debian's package ``dataset-fashion-mnist`` (files in ``/usr/share/datasets/fashion-mnist``),
   which ``python3 course.py setup`` installs wherever apt-get can run;
3. the official download, when the machine is online.

Every file is checked before use: its IDX header (magic number, dimensions, size) and the
SHA-256 of its decompressed content. A file is written to the cache only after it passed, and
only through a temporary file that is renamed into place, so a failed or interrupted copy never
leaves a half-written cache behind.

The photograph is Grace Hopper's portrait that matplotlib ships in its sample data, so the
convolution lessons need no download at all.

This module stands alone: it imports nothing else from ``helpers``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: Where the course keeps its data sets (``CNN_COURSE_DATA`` overrides it).
DATA_DIR = Path(os.environ.get("CNN_COURSE_DATA", Path(__file__).resolve().parent.parent / "data"))
CACHE_DIR = DATA_DIR / "fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: The official download location given in the Fashion-MNIST README.
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


@dataclass(frozen=True)
class IdxFile:
    """One file of the data set: its name, the SHA-256 of its decompressed bytes, its shape."""

    filename: str
    sha256: str
    shape: tuple[int, ...]


#: The four files, with the SHA-256 of their decompressed content (the same bytes whichever
#: source they come from; the .gz wrappers differ between the official files and Debian's).
FASHION_FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte.gz",
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                            (60000, 28, 28)),
    "train_labels": IdxFile("train-labels-idx1-ubyte.gz",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                            (60000,)),
    "test_images": IdxFile("t10k-images-idx3-ubyte.gz",
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                           (10000, 28, 28)),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz",
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                           (10000,)),
}

HOW_TO_GET_IT = """\
Ways to get Fashion-MNIST for the course:
  1. Run the course set-up, which installs Debian's package where apt-get works:
         python3 course.py setup
  2. Or install the package yourself (Debian/Ubuntu, as root):
         apt-get install dataset-fashion-mnist
  3. Or, on a machine that is online, let the loader download the official files
         (load_fashion_mnist(download=True), the default).
  4. Or copy the four official .gz files ({files}) into
         {cache}"""


_LOADED: dict = {}  # load_fashion_mnist's results, by cache folder and checksums


class DataError(RuntimeError):
    """A data file is missing, truncated or corrupted; the message says which and what to do."""


def _how_to(cache_dir: Path) -> str:
    names = ", ".join(spec.filename for spec in FASHION_FILES.values())
    return HOW_TO_GET_IT.format(files=names, cache=cache_dir)


# --- the IDX format ------------------------------------------------------------------------
# An IDX file is a 4-byte magic number 0x00 0x00 <type> <ndim>, then ndim big-endian uint32
# dimension sizes, then the data. Type 0x08 is unsigned byte, the only type Fashion-MNIST uses.

def parse_idx(raw: bytes, name: str = "<bytes>", expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX file of unsigned bytes into a uint8 array.

    raw: the whole file; name: used in error messages; expected_shape: checked when given.
    Returns an array of the shape the header states, e.g. (60000, 28, 28).
    """
    if len(raw) < 4:
        raise DataError(f"{name}: only {len(raw)} bytes, too short for an IDX header (file truncated?)")
    zero1, zero2, dtype_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero1 != 0 or zero2 != 0 or dtype_code != 0x08 or ndim not in (1, 2, 3, 4):
        magic = int.from_bytes(raw[:4], "big")
        raise DataError(
            f"{name}: bad IDX magic number 0x{magic:08x}; expected 0x00000801 (labels) or "
            f"0x00000803 (images): this is not an IDX file of unsigned bytes")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{name}: header cut short ({len(raw)} bytes; needs {header_len}): file truncated")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header_len])
    if expected_shape is not None and tuple(dims) != tuple(expected_shape):
        raise DataError(f"{name}: header gives dimensions {dims}, expected {tuple(expected_shape)}")
    size = int(np.prod(dims))
    body = len(raw) - header_len
    if body != size:
        what = "truncated" if body < size else "has trailing bytes"
        raise DataError(f"{name}: header promises {size} data bytes but the file has {body}: it is {what}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _read_verified(path: Path, spec: IdxFile, fix: str) -> np.ndarray:
    """Decompress, check and parse one .gz IDX file; DataError (naming path and ``fix``) if bad."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); the file is truncated or not gzip. {fix}") from None
    try:
        array = parse_idx(raw, str(path), spec.shape)
    except DataError as exc:
        raise DataError(f"{exc}. {fix}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DataError(f"{path}: SHA-256 of the content is {digest[:16]}..., expected "
                        f"{spec.sha256[:16]}...: the file is corrupted. {fix}")
    return array


def _copy_atomically(write, target: Path) -> None:
    """Write a file through a temporary file in the same folder, renamed into place at the end."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fetch_one(key: str, cache_dir: Path, debian_dir: Path, base_url: str | None, timeout: float) -> np.ndarray:
    spec = FASHION_FILES[key]
    cached = cache_dir / spec.filename
    if cached.exists():
        return _read_verified(cached, spec, f"Delete {cached} and load again to fetch a fresh copy.")

    packaged = debian_dir / spec.filename
    if packaged.exists():
        array = _read_verified(packaged, spec, "Reinstall the package: apt-get install --reinstall dataset-fashion-mnist")
        _copy_atomically(lambda out: out.write(packaged.read_bytes()), cached)
        return array

    if base_url is None:
        raise FileNotFoundError(spec.filename)
    url = base_url.rstrip("/") + "/" + spec.filename
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise FileNotFoundError(f"{url}: {exc}") from None
    # Check the download in a temporary file first; only a verified file reaches the cache.
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / spec.filename
        staged.write_bytes(payload)
        array = _read_verified(staged, spec, f"The download from {url} is damaged; try again later, or use another way:\n" + _how_to(cache_dir))
    _copy_atomically(lambda out: out.write(payload), cached)
    return array


def load_fashion_mnist(cache_dir: str | Path | None = None, *, download: bool = True,
                       base_url: str = OFFICIAL_URL, debian_dir: str | Path | None = None,
                       timeout: float = 30.0):
    """Load the real Fashion-MNIST split.

    Returns ``((x_train, y_train), (x_test, y_test), class_names)`` where x_train: (60000, 28, 28)
    uint8, y_train: (60000,) int64 in 0..9, x_test: (10000, 28, 28), y_test: (10000,), and
    class_names is the tuple of the ten names. Sources are tried in order: the cache
    (``data/fashion-mnist``), Debian's package, the official download (only if ``download``).
    Raises DataError naming the file when one is truncated or corrupted, and when no source
    has the data, listing the ways to get it.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    debian_dir = Path(debian_dir) if debian_dir is not None else DEBIAN_DIR
    # Checked once per process: the arrays are read-only, so later calls can share them.
    memo_key = (str(cache_dir.resolve()), tuple(spec.sha256 for spec in FASHION_FILES.values()))
    if memo_key in _LOADED:
        return _LOADED[memo_key]
    arrays = {}
    for key in FASHION_FILES:
        try:
            arrays[key] = _fetch_one(key, cache_dir, debian_dir, base_url if download else None, timeout)
        except FileNotFoundError as exc:
            tried = [f"cache {cache_dir}", f"Debian package files in {debian_dir}"]
            tried.append(f"download ({exc})" if download else "download (switched off)")
            raise DataError(f"Fashion-MNIST file {FASHION_FILES[key].filename} was not found. "
                            f"Tried: {'; '.join(tried)}.\n" + _how_to(cache_dir)) from None
    y_train, y_test = arrays["train_labels"].astype(np.int64), arrays["test_labels"].astype(np.int64)
    y_train.flags.writeable = y_test.flags.writeable = False
    result = ((arrays["train_images"], y_train), (arrays["test_images"], y_test), CLASS_NAMES)
    _LOADED[memo_key] = result
    return result


def fashion_mnist_available(cache_dir: str | Path | None = None) -> bool:
    """True when all four files are in the cache or in Debian's package (no download tried)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    return all((cache_dir / s.filename).exists() or (DEBIAN_DIR / s.filename).exists()
               for s in FASHION_FILES.values())


# --- the photograph ------------------------------------------------------------------------

def sample_image(gray: bool = False, downsample: int = 1) -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data (no download needed).

    Returns float32 values in [0, 1]: (H, W, 3) RGB, or (H, W) grayscale when ``gray``
    (luma 0.299 R + 0.587 G + 0.114 B, ITU-R BT.601). ``downsample`` k > 1 averages k x k
    blocks, which makes the loop-based lessons quick (the full image is 600 x 512).
    """
    from matplotlib import cbook  # imported here: only the image needs matplotlib
    import matplotlib.image as mpimg

    if not isinstance(gray, (bool, np.bool_)):
        raise TypeError(f"gray must be True or False, got {gray!r}")
    if (not isinstance(downsample, (int, np.integer)) or isinstance(downsample, (bool, np.bool_))
            or downsample < 1):
        raise ValueError(f"downsample must be a positive integer, got {downsample!r}")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = mpimg.imread(f, format="jpg")
    img = img.astype(np.float32) / 255.0
    if downsample > 1:
        h, w = (img.shape[0] // downsample) * downsample, (img.shape[1] // downsample) * downsample
        img = img[:h, :w].reshape(h // downsample, downsample, w // downsample, downsample, 3).mean(axis=(1, 3))
    if gray:
        img = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray(img, dtype=np.float32)


def sample_image_source() -> str:
    """Where the photograph comes from, for captions."""
    return ("Grace Hopper, from matplotlib's sample data (grace_hopper.jpg); "
            "U.S. Navy photograph, public domain")
