"""Training rows in a memory-mapped file, read in runs rather than row by row.

A ``numpy.memmap`` (or ``np.load(..., mmap_mode="r")``) larger than memory
is read through the page cache: a row that is not cached costs a disk read,
so a batch gathered from a full random permutation of the rows costs one
read per row, and an epoch as many reads as there are rows.
:class:`MappedRows` serves such an array to the batching in :mod:`skae._engine._net`
the way :class:`~skae._engine._rows.SparseRows` serves a sparse matrix, and says in
which order its rows are cheap to read (:func:`windowed_permutation`): the
rows are cut into chunks of consecutive rows (about ``CHUNK_BYTES`` each),
the chunks are visited in random order, and the rows of each window of
``WINDOW_CHUNKS`` consecutive chunks of that order are shuffled together.
A window's batches therefore read only its own chunks, whole, and a window
mixes chunks from all over the file, so that data stored sorted (by class,
by time) still give mixed batches. Nothing is copied but a batch: the
pages read belong to the page cache, which the kernel reclaims, not to the
process's anonymous memory.
"""

import math
import mmap

import numpy as np
import torch

from ..nn._random import training_generator

# About this many bytes of consecutive rows form a chunk: large enough that
# reading one is a sequential read, small enough that a window mixes many.
CHUNK_BYTES = 2**20

# Chunks whose rows are shuffled together: a 256 MiB stretch of the page
# cache is read at a time.
WINDOW_CHUNKS = 256


def is_memory_mapped(array):
    """Whether ``array`` (or an array it views) is backed by a memory-mapped file.

    Parameters
    ----------
    array : object
        Rows as a family receives them.

    Returns
    -------
    mapped : bool
        True for a ``numpy.memmap``, a view of one, or an array over an
        ``mmap``: rows the engine reads in runs rather than copies.
    """
    while isinstance(array, np.ndarray):
        if isinstance(array, np.memmap):
            return True
        array = array.base
    if isinstance(array, memoryview):  # np.frombuffer of an mmap
        array = array.obj
    return isinstance(array, mmap.mmap)


def windowed_permutation(n_rows, chunk_rows, window_chunks):
    """A permutation of ``range(n_rows)`` that reads rows in shuffled runs.

    The rows are cut into chunks of ``chunk_rows`` consecutive rows, the
    chunks put in random order, and the rows within each window of
    ``window_chunks`` consecutive chunks of that order shuffled. Every row
    appears exactly once. Draws from the fit's generator (torch's default one
    outside a fit), as ``torch.randperm`` does.

    Parameters
    ----------
    n_rows : int
        Rows to order.
    chunk_rows : int
        Rows per chunk (the last chunk of the data may be shorter).
    window_chunks : int
        Chunks per window (the last window may hold fewer).

    Returns
    -------
    order : torch.Tensor of shape (n_rows,), dtype int64
    """
    n_chunks = math.ceil(n_rows / chunk_rows)
    generator = training_generator("cpu")
    chunk_order = torch.randperm(n_chunks, generator=generator)
    in_chunk = torch.arange(chunk_rows)
    # Window by window, so that nothing but the result is as long as the data.
    windows = []
    for first in range(0, n_chunks, window_chunks):
        chunks = chunk_order[first : first + window_chunks]
        rows = (chunks[:, None] * chunk_rows + in_chunk).flatten()
        rows = rows[rows < n_rows]  # the data's last chunk may be short
        windows.append(rows[torch.randperm(len(rows), generator=generator)])
    return torch.cat(windows)


class MappedRows:
    """The rows of a memory-mapped array, served as tensors of one dtype.

    Rows are converted as they are read (a float64 file is never converted
    whole), and :meth:`row_order` gives an order that reads the file in runs.

    Parameters
    ----------
    array : numpy.ndarray or torch.Tensor
        The mapped array (or a CPU tensor sharing its memory). A view with
        negative strides (``X[::-1]``) is served as it is: numpy indexes it,
        where torch would need a copy.
    dtype : torch.dtype
        The dtype of the tensors served.
    chunk_bytes : int, default=None
        Bytes of consecutive rows per chunk of the shuffle; None reads
        ``CHUNK_BYTES``.
    window_chunks : int, default=None
        Chunks per window of the shuffle; None reads ``WINDOW_CHUNKS``.
    """

    device = torch.device("cpu")

    def __init__(self, array, dtype, *, chunk_bytes=None, window_chunks=None):
        self.array = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        self.dtype = dtype
        row_bytes = max(1, self.array[0].nbytes) if len(self.array) else 1
        self.chunk_rows = max(1, (chunk_bytes or CHUNK_BYTES) // row_bytes)
        self.window_chunks = window_chunks or WINDOW_CHUNKS

    def __len__(self):
        return len(self.array)

    @property
    def shape(self):
        return torch.Size(self.array.shape)

    def index_select(self, dim, index):
        if dim != 0:
            raise ValueError("MappedRows selects rows (dim=0) only.")
        return self._served(self.array[index.cpu().numpy()])

    def __getitem__(self, rows):
        if not isinstance(rows, slice):
            raise TypeError("MappedRows takes row slices; use index_select for indices.")
        return self._served(np.ascontiguousarray(self.array[rows]))

    def _served(self, rows):
        # A slice of a read-only mapping is read-only; a batch is small, and
        # copying it beats a tensor torch would warn about.
        return torch.from_numpy(rows if rows.flags.writeable else rows.copy()).to(self.dtype)

    def row_order(self, rows=None, *, shuffle):
        """The order of one pass over ``rows`` (None: all rows), as cheap reads go.

        The rows of a split are taken in file order, and shuffled by
        :func:`windowed_permutation` when ``shuffle``; None means all rows
        in file order.
        """
        if rows is not None:
            rows = torch.sort(rows).values
        if not shuffle:
            return rows
        n_rows = len(self) if rows is None else len(rows)
        order = windowed_permutation(n_rows, self.chunk_rows, self.window_chunks)
        return order if rows is None else rows[order]
