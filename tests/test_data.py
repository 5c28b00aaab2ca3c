"""helpers.data: every source and every failure, on small IDX files that the tests write."""
import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers import data


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 08 <ndim>, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def tiny(monkeypatch):
    """Swap the real file table for four tiny files; return their arrays and gz payloads."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (6, 4, 3), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, (6,), dtype=np.uint8),
        "test_images": rng.integers(0, 256, (2, 4, 3), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, (2,), dtype=np.uint8),
    }
    table, payloads = {}, {}
    for key, arr in arrays.items():
        raw = idx_bytes(arr)
        name = data.FASHION_FILES[key].filename
        table[key] = data.IdxFile(name, hashlib.sha256(raw).hexdigest(), arr.shape)
        payloads[name] = gzip.compress(raw)
    monkeypatch.setattr(data, "FASHION_FILES", table)
    return arrays, payloads


def write_all(folder: Path, payloads: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in payloads.items():
        (folder / name).write_bytes(blob)


def check_arrays(result, arrays):
    (xtr, ytr), (xte, yte), names = result
    np.testing.assert_array_equal(xtr, arrays["train_images"])
    np.testing.assert_array_equal(ytr, arrays["train_labels"])
    np.testing.assert_array_equal(xte, arrays["test_images"])
    np.testing.assert_array_equal(yte, arrays["test_labels"])
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int64
    assert names == data.CLASS_NAMES and len(names) == 10


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 serving a dict {filename: bytes}; yields (url, files)."""
    files: dict[str, bytes] = {}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            name = self.path.lstrip("/")
            hits.append(name)
            if name not in files:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(files[name])))
            self.end_headers()
            self.wfile.write(files[name])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", files, hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def load(tmp_path, **kw):
    kw.setdefault("debian_dir", tmp_path / "debian")
    kw.setdefault("download", False)
    return data.load_fashion_mnist(tmp_path / "cache", **kw)


# --- sources --------------------------------------------------------------------------------

def test_cache_is_used_first(tmp_path, tiny):
    arrays, payloads = tiny
    write_all(tmp_path / "cache", payloads)
    check_arrays(load(tmp_path), arrays)


def test_debian_package_files_are_used_and_cached(tmp_path, tiny):
    arrays, payloads = tiny
    write_all(tmp_path / "debian", payloads)
    check_arrays(load(tmp_path), arrays)
    for name, blob in payloads.items():
        assert (tmp_path / "cache" / name).read_bytes() == blob
    # The second load works from the cache alone.
    for name in payloads:
        (tmp_path / "debian" / name).unlink()
    check_arrays(load(tmp_path), arrays)


def test_download_from_local_server_is_verified_and_cached(tmp_path, tiny, server):
    arrays, payloads = tiny
    url, files, hits = server
    files.update(payloads)
    check_arrays(load(tmp_path, download=True, base_url=url), arrays)
    assert sorted(hits) == sorted(payloads)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(payloads)
    hits.clear()
    check_arrays(load(tmp_path, download=True, base_url=url), arrays)
    assert hits == [], "a second load must not download again"


def test_no_source_lists_the_ways_to_get_the_data(tmp_path, tiny, server):
    url, files, hits = server  # serves nothing: every request is a 404
    with pytest.raises(data.DataError) as err:
        load(tmp_path, download=True, base_url=url)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "python3 course.py setup" in msg
    assert "404" in msg


def test_download_switched_off_says_so(tmp_path, tiny):
    with pytest.raises(data.DataError, match="switched off"):
        load(tmp_path)


# --- failures -------------------------------------------------------------------------------

def test_truncated_download_names_the_file_and_leaves_no_cache(tmp_path, tiny, server):
    arrays, payloads = tiny
    url, files, hits = server
    files.update(payloads)
    name = data.FASHION_FILES["train_images"].filename
    files[name] = payloads[name][: len(payloads[name]) // 2]
    with pytest.raises(data.DataError) as err:
        load(tmp_path, download=True, base_url=url)
    assert name in str(err.value) and "truncated" in str(err.value)
    cache = tmp_path / "cache"
    leftovers = list(cache.iterdir()) if cache.exists() else []
    assert not any(p.name.startswith(name) for p in leftovers), leftovers
    assert not any(p.suffix == ".part" for p in leftovers), leftovers


def test_corrupted_download_fails_its_checksum(tmp_path, tiny, server):
    arrays, payloads = tiny
    url, files, hits = server
    files.update(payloads)
    name = data.FASHION_FILES["test_labels"].filename
    raw = bytearray(gzip.decompress(payloads[name]))
    raw[-1] ^= 0xFF  # one flipped label: header and size still fine, only the checksum knows
    files[name] = gzip.compress(bytes(raw))
    with pytest.raises(data.DataError, match="SHA-256") as err:
        load(tmp_path, download=True, base_url=url)
    assert name in str(err.value) and "corrupted" in str(err.value)
    assert not (tmp_path / "cache" / name).exists()


def test_corrupted_cache_names_the_file_and_what_to_do(tmp_path, tiny):
    arrays, payloads = tiny
    write_all(tmp_path / "cache", payloads)
    name = data.FASHION_FILES["train_labels"].filename
    (tmp_path / "cache" / name).write_bytes(payloads[name][:10])
    with pytest.raises(data.DataError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert name in msg and "Delete" in msg


def test_corrupted_debian_file_suggests_reinstall_and_is_not_cached(tmp_path, tiny):
    arrays, payloads = tiny
    write_all(tmp_path / "debian", payloads)
    name = data.FASHION_FILES["test_images"].filename
    (tmp_path / "debian" / name).write_bytes(b"not gzip at all")
    with pytest.raises(data.DataError, match="reinstall") as err:
        load(tmp_path)
    assert name in str(err.value)
    assert not (tmp_path / "cache" / name).exists()


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: b"\x00\x00\x0d\x03" + raw[4:], "magic number"),   # float type, not ubyte
    (lambda raw: raw[:4] + struct.pack(">I", 7) + raw[8:], "dimensions"),
    (lambda raw: raw[:-5], "truncated"),
    (lambda raw: raw + b"\x00\x01", "trailing"),
    (lambda raw: raw[:6], "header cut short"),
])
def test_idx_header_is_validated(mutate, message):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    raw = mutate(idx_bytes(arr))
    with pytest.raises(data.DataError, match=message):
        data.parse_idx(raw, "x.idx", expected_shape=(2, 4, 3))


def test_parse_idx_roundtrip():
    arr = np.arange(60, dtype=np.uint8).reshape(5, 3, 4)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(arr)), arr)


# --- the photograph -------------------------------------------------------------------------

def test_sample_image_rgb_and_gray():
    rgb = data.sample_image()
    gray = data.sample_image(gray=True)
    assert rgb.shape == (600, 512, 3) and rgb.dtype == np.float32
    assert gray.shape == (600, 512) and gray.dtype == np.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0
    np.testing.assert_allclose(gray, rgb @ np.array([0.299, 0.587, 0.114], np.float32), atol=1e-6)
    small = data.sample_image(gray=True, downsample=4)
    assert small.shape == (150, 128)
    np.testing.assert_allclose(small[0, 0], gray[:4, :4].mean(), atol=1e-5)
    with pytest.raises(ValueError, match="downsample"):
        data.sample_image(downsample=0)


# --- the real data set (present after the set-up) ---------------------------------------------

def test_real_fashion_mnist():
    (xtr, ytr), (xte, yte), names = data.load_fashion_mnist(download=False)
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert np.bincount(ytr).tolist() == [6000] * 10
    assert np.bincount(yte).tolist() == [1000] * 10
    assert names[9] == "Ankle boot"


def test_second_load_in_a_process_reuses_the_checked_arrays(tmp_path, tiny):
    arrays, payloads = tiny
    write_all(tmp_path / "cache", payloads)
    first = load(tmp_path)
    for name in payloads:                       # the files are gone, the checked arrays are not
        (tmp_path / "cache" / name).unlink()
    second = load(tmp_path)
    assert second[0][0] is first[0][0]
    assert not second[0][0].flags.writeable and not second[0][1].flags.writeable
