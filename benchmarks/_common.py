"""What the benchmark sections share: tables, the machine header, synthetic rows, threads.

Every section imports this module; it imports none of them, so the sections
form no cycle. torch is imported inside the functions that need it: the
memory section's child processes import this module, and some of them must
not pay for loading torch.
"""

import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]

# One untimed call on this many rows first, so that one-time costs (thread
# pools, BLAS buffers, torch's lazily built state: tens of MB) are not
# counted as cost per input byte, nor as time per call.
WARM_UP_ROWS = 8_192

# Rows per chunk of the hand-written inference reference (plain_forward).
CHUNK_ROWS = 8192


def log(message):
    print(message, file=sys.stderr, flush=True)


def markdown_table(rows, columns=None):
    columns = columns or [c for c in rows[0] if c != "embedding"]

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def machine_header():
    import sklearn
    import skorch
    import torch

    return "\n".join([
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores, "
        f"torch intra-op threads {torch.get_num_threads()}, "
        f"CUDA {'available' if torch.cuda.is_available() else 'not available'}",
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__}, "
        f"skorch {skorch.__version__}",
    ])


def synthetic(n_rows, n_features=784, dtype="float32", seed=0):
    """Uniform [0, 1) random rows (their content changes neither time nor memory)."""
    return np.random.default_rng(seed).random((n_rows, n_features), dtype=np.float32).astype(
        dtype, copy=False
    )


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block on ``n_threads`` torch intra-op threads; restore the count after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def plain_forward(module, X, chunk_rows=CHUNK_ROWS):
    """``module.encode`` on X's rows, chunk by chunk, under ``torch.no_grad()``.

    The hand-written reference: no copy of X (``torch.from_numpy``), the
    module used as it is, codes written into one preallocated array. It
    computes in the module's dtype.
    """
    import torch

    X_tensor = torch.from_numpy(X)
    dtype = next(module.parameters()).dtype
    codes = None
    with torch.no_grad():
        for start in range(0, len(X_tensor), chunk_rows):
            chunk = module.encode(X_tensor[start : start + chunk_rows].to(dtype))
            if codes is None:
                codes = torch.empty((len(X_tensor), chunk.shape[1]), dtype=chunk.dtype)
            codes[start : start + len(chunk)] = chunk
    return codes.numpy()


def run_fresh_process(module, args, *, threads=1, timeout, what):
    """``python -m module *args`` in a fresh process on ``threads`` threads; its JSON result.

    The child prints its figures as JSON on its last line of output. A fresh
    process per measurement keeps one contender's allocator state from
    hiding or inflating another's; torch, OpenMP and BLAS all get
    ``threads``. ``what`` names the measurement in the error of a failed child.
    """
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "MKL_NUM_THREADS")}
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env, "PYTHONPATH": path})
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
