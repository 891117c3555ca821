"""Memory-mapped training data: streamed in chunks, shuffled in windows of chunks."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skae import Autoencoder, LinearAutoencoder, VariationalAutoencoder
from skae._engine import _chunks
from skae._engine._chunks import MappedRows, is_memory_mapped, windowed_permutation
from skae._engine._sources import to_training_tensor


def save_memmap(path, X):
    """X written to an .npy file, opened read-only as a memory map."""
    np.save(path, X)
    return np.load(path, mmap_mode="r")


@pytest.fixture
def small_chunks(monkeypatch):
    # Chunks of 2 KiB (8 rows of 64 float32 features) and windows of 4 of
    # them, so that a few MB of data span many windows.
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(_chunks, "WINDOW_CHUNKS", 4)


@pytest.fixture
def digits32(digits):
    return digits[0].astype(np.float32)


# ------------------------------------------------------------ the row order
@pytest.mark.parametrize("n_rows, chunk_rows, window_chunks",
                         [(1000, 7, 4), (1000, 10, 10), (5, 8, 3), (1, 1, 1), (997, 1, 1000)])
def test_windowed_permutation_visits_every_row_once(n_rows, chunk_rows, window_chunks):
    torch.manual_seed(0)
    order = windowed_permutation(n_rows, chunk_rows, window_chunks)
    assert order.dtype == torch.int64
    assert_array_equal(np.sort(order.numpy()), np.arange(n_rows))


def test_windowed_permutation_reads_a_window_of_chunks_at_a_time():
    n_rows, chunk_rows, window_chunks = 1000, 10, 5
    window_rows = chunk_rows * window_chunks
    torch.manual_seed(0)
    order = windowed_permutation(n_rows, chunk_rows, window_chunks).numpy()
    chunks = order // chunk_rows
    for start in range(0, n_rows, window_rows):
        # Each window holds whole chunks, window_chunks of them.
        window, counts = np.unique(chunks[start : start + window_rows], return_counts=True)
        assert len(window) == window_chunks
        assert np.all(counts == chunk_rows)
    # Chunks are visited in random order, not in file order, and rows are
    # shuffled within a window, not read chunk after chunk.
    first_of_window = chunks[::window_rows]
    assert not np.all(np.diff(first_of_window) > 0)
    assert not np.all(chunks[:window_rows] == np.repeat(chunks[:window_rows:chunk_rows],
                                                         chunk_rows))


def test_windowed_permutation_follows_torch_seed():
    torch.manual_seed(3)
    first = windowed_permutation(500, 6, 4)
    torch.manual_seed(3)
    again = windowed_permutation(500, 6, 4)
    torch.manual_seed(4)
    other = windowed_permutation(500, 6, 4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_memory_mapped_arrays_are_recognised_through_views(tmp_path, digits32):
    X = save_memmap(tmp_path / "x.npy", digits32)
    assert is_memory_mapped(X)
    assert is_memory_mapped(np.asarray(X))  # what validation hands on
    assert is_memory_mapped(X[10:20])
    assert not is_memory_mapped(np.array(X))
    assert not is_memory_mapped(digits32)
    assert not is_memory_mapped([[0.0, 1.0]])
    cpu = torch.device("cpu")
    assert isinstance(to_training_tensor(np.asarray(X), torch.float32, cpu),
                      MappedRows)
    assert isinstance(to_training_tensor(np.array(X), torch.float32, cpu),
                      torch.Tensor)


def test_mapped_rows_serve_converted_rows_in_file_order_for_a_split(tmp_path, digits):
    X = save_memmap(tmp_path / "x.npy", digits[0])  # float64 on disk
    rows = MappedRows(np.asarray(X), torch.float32)
    index = torch.tensor([5, 0, 3])
    assert_array_equal(rows.index_select(0, index).numpy(), digits[0][[5, 0, 3]].astype(np.float32))
    assert rows[2:4].dtype == torch.float32
    split = torch.tensor([9, 2, 7, 4])
    assert_array_equal(rows.row_order(split, shuffle=False).numpy(), [2, 4, 7, 9])
    shuffled = rows.row_order(split, shuffle=True).numpy()
    assert sorted(shuffled) == [2, 4, 7, 9]
    assert rows.row_order(None, shuffle=False) is None


# ------------------------------------------------------------- estimators
ESTIMATORS = [
    lambda: Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
                        random_state=0),
    lambda: LinearAutoencoder(4, max_epochs=3, batch_size=32, random_state=0),
    lambda: VariationalAutoencoder(4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
                                   random_state=0),
]


@pytest.mark.parametrize("make", ESTIMATORS)
def test_every_method_takes_a_memmap(tmp_path, digits32, small_chunks, make):
    X = save_memmap(tmp_path / "x.npy", digits32)
    est = make().fit(X)
    assert np.isfinite(est.loss_curve_).all() and est.n_iter_ == 3
    est.partial_fit(X)
    assert est.n_iter_ == 4
    # Inference on the memmap equals inference on the same rows in memory.
    codes = est.transform(X)
    assert type(codes) is np.ndarray and codes.dtype == np.float32
    assert_allclose(codes, est.transform(np.array(X)), rtol=1e-6, atol=1e-6)
    assert_allclose(est.score_samples(X), est.score_samples(np.array(X)), rtol=1e-6, atol=1e-6)
    Z = save_memmap(tmp_path / "z.npy", codes)
    assert_allclose(est.inverse_transform(Z), est.inverse_transform(codes), rtol=1e-6,
                    atol=1e-6)


def test_fit_on_a_memmap_is_deterministic_with_random_state(tmp_path, digits32, small_chunks):
    X = save_memmap(tmp_path / "x.npy", digits32)
    first = Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
                        random_state=7).fit(X)
    again = Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=3, batch_size=32,
                        random_state=7).fit(X)
    assert first.loss_curve_ == again.loss_curve_
    assert_array_equal(first.transform(X), again.transform(X))


def test_in_memory_data_keep_the_full_shuffle(tmp_path, digits32, small_chunks):
    # A loaded copy of the file trains exactly as the array it was saved from.
    X = save_memmap(tmp_path / "x.npy", digits32)
    settings = dict(hidden_layer_sizes=(16,), max_epochs=3, batch_size=32, random_state=0)
    from_copy = Autoencoder(4, **settings).fit(np.array(X))
    from_array = Autoencoder(4, **settings).fit(digits32)
    mapped = Autoencoder(4, **settings).fit(X)
    assert from_copy.loss_curve_ == from_array.loss_curve_
    assert mapped.loss_curve_ != from_array.loss_curve_  # the windowed order


def test_float64_memmap_trains_and_infers_in_float64(tmp_path, digits, small_chunks):
    X = save_memmap(tmp_path / "x.npy", digits[0])
    est = Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=2, batch_size=32,
                      random_state=0).fit(X)
    codes = est.transform(X)
    assert codes.dtype == np.float64
    assert_allclose(codes, est.transform(digits[0]), rtol=1e-12, atol=1e-12)
    assert est.inverse_transform(codes).dtype == np.float64


def test_early_stopping_reads_its_split_from_a_memmap(tmp_path, digits32, small_chunks):
    X = save_memmap(tmp_path / "x.npy", digits32)
    est = Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=4, batch_size=32,
                      early_stopping=True, validation_fraction=0.2, random_state=0).fit(X)
    assert len(est.validation_scores_) == est.n_iter_
    assert np.isfinite(est.validation_scores_).all()


def test_nan_in_a_memmap_is_refused_before_training(tmp_path, digits32):
    bad = digits32.copy()
    bad[100, 3] = np.nan
    X = save_memmap(tmp_path / "x.npy", bad)
    est = Autoencoder(4, hidden_layer_sizes=(16,), max_epochs=2)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X)
    assert not hasattr(est, "net_")


# ----------------------------------------------------------------- memory
MEMORY_CHILD = """
import os
import sys
import numpy as np
from benchmarks.memory import PeakMemory
from skae import Autoencoder

path, dtype = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
# 80,000 x 784 rows: 250 MB in float32, 500 MB in float64.
out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(80_000, 784))
for start in range(0, 80_000, 10_000):
    out[start : start + 10_000] = rng.random((10_000, 784))
out.flush()
del out
X = np.load(path, mmap_mode="r")
est = Autoencoder(8, hidden_layer_sizes=(16,), max_epochs=1, batch_size=256,
                  device="cpu", random_state=0)
est.fit(X[:2048]).transform(X[:2048])  # warm-up: one-time allocations are not the point
with PeakMemory() as fit_memory:
    est.fit(X)
with PeakMemory() as transform_memory:
    codes = est.transform(X)
print(X.nbytes, fit_memory.added, transform_memory.added, codes.nbytes)
del X
os.remove(path)
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_memmap_is_neither_copied_nor_converted_whole(tmp_path, dtype):
    memory = pytest.importorskip(
        "benchmarks.memory", reason="run `python -m pytest` from the repository root"
    )
    if not memory.available():
        pytest.skip("reads RssAnon from /proc/self/status (Linux only)")
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(tmp_path / "x.npy"), dtype],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    input_bytes, fit_added, transform_added, output_bytes = map(int, result.stdout.split())
    # A copy would add 1 byte per byte, and a float64 X converted to
    # float32 whole (as in memory) 0.5; from a file, only batches are
    # converted. What remains is about 30 MB that do not grow with X (the
    # sample read to check the data's scale, the net, its buffers).
    assert fit_added < 0.2 * input_bytes, f"fit added {fit_added / 1e6:.0f} MB"
    assert transform_added < 0.1 * input_bytes + output_bytes, (
        f"transform added {transform_added / 1e6:.0f} MB"
    )
