"""Peak memory a call adds, in bytes per byte of its input.

Each measurement runs in a fresh Python process (``python -m
benchmarks.memory --child NAME ...``), so that one contender's allocator
state can neither hide nor inflate another's. Inside it, the setup comes
first (synthetic data; for inference, a model fitted on a few rows), then one
warm-up call on the first 8,192 rows, so that one-time costs (thread pools,
BLAS buffers, torch's lazily built state) do not count as cost per byte; then
a sampling thread reads ``RssAnon`` -- the process's anonymous resident
memory: heap and array buffers, not mapped files -- from
``/proc/self/status`` every 2 ms while the call on all of X runs. The figure is

    (peak RssAnon during the call - RssAnon just before it) / X.nbytes

so a call that copies its input once scores about 1.0. The kernel's own
high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs`` just
before the call) cross-checks it: a peak shorter than the sampling period, or
one reached and released while a thread holds the GIL, shows there and not in
the samples. ``VmHWM`` counts mapped files too, so it reads a little higher.

``python -m benchmarks.memory [--rows N]`` prints the table on its own.
Linux only (``/proc/self/status``); :func:`available` says whether it runs.
"""

import argparse
import ctypes
import gc
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ._common import WARM_UP_ROWS, markdown_table, plain_forward, run_fresh_process
from ._common import synthetic

STATUS = Path("/proc/self/status")
SAMPLE_SECONDS = 0.002

# The contract in SPEC.md, bytes added per input byte.
LIMITS = {"skae Autoencoder.fit": 1.1, "skae transform": 0.1, "skae transform, float64 X": 0.1}


# ----------------------------------------------------------------- sampling
def available():
    """Whether this platform reports RssAnon in /proc/self/status (Linux)."""
    try:
        return "RssAnon:" in STATUS.read_text()
    except OSError:
        return False


def read_status(*fields):
    """The named fields of /proc/self/status (e.g. "RssAnon"), in bytes."""
    values = {}
    with open(STATUS) as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in fields:
                values[name] = int(rest.split()[0]) * 1024  # reported in kB
    return values


def _release_free_memory():
    """Collect garbage and hand freed heap back to the kernel.

    Without this, memory that the setup freed but malloc kept would be
    counted in the baseline, and a call reusing it would look free.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_high_water_mark():
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # 5 resets VmHWM to the current RSS
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager: the anonymous memory a block adds at its peak.

    After the block, ``before``, ``peak`` and ``added`` (bytes of RssAnon)
    are set, and ``high_water_added`` (bytes of VmHWM over the RSS before
    the block; None where VmHWM cannot be reset).

    Examples
    --------
    >>> with PeakMemory() as memory:  # doctest: +SKIP
    ...     Z = estimator.transform(X)
    >>> memory.added / X.nbytes  # doctest: +SKIP
    """

    def __init__(self, interval=SAMPLE_SECONDS):
        self.interval = interval

    def __enter__(self):
        _release_free_memory()
        can_reset = _reset_high_water_mark()
        status = read_status("RssAnon", "VmRSS")
        self._rss_before = status["VmRSS"] if can_reset else None
        self.before = self.peak = status["RssAnon"]
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self):
        while True:
            self.peak = max(self.peak, read_status("RssAnon")["RssAnon"])
            if self._stop.wait(self.interval):
                return

    def __exit__(self, *exc_info):
        self._stop.set()
        self._sampler.join()
        status = read_status("RssAnon", "VmHWM")
        self.peak = max(self.peak, status["RssAnon"])
        self.added = self.peak - self.before
        self.high_water_added = (
            None if self._rss_before is None else status["VmHWM"] - self._rss_before
        )
        return False


# --------------------------------------------------------------- contenders
@dataclass(frozen=True)
class Net:
    """The small dense autoencoder every contender trains or runs."""

    hidden_layer_sizes: tuple = (64,)
    n_components: int = 16
    batch_size: int = 256


def _autoencoder(net, **settings):
    from skae import Autoencoder

    return Autoencoder(
        net.n_components,
        hidden_layer_sizes=net.hidden_layer_sizes,
        batch_size=net.batch_size,
        device="cpu",
        random_state=0,
        **settings,
    )


def _fitted_on_a_few_rows(X, net):
    # Inference memory does not depend on the weights: a few rows will do.
    return _autoencoder(net, max_epochs=1).fit(X[: 4 * net.batch_size])


# Each contender is set up once, then called on a slice of WARM_UP_ROWS rows
# and on all of X; only the second call is measured.
def _skae_fit(X, net):
    from sklearn.base import clone

    estimator = _autoencoder(net, max_epochs=1)
    return lambda A: clone(estimator).fit(A)


def _hand_written_loop(X, net):
    from .throughput import Workload, hand_written_loop

    def train(A):
        workload = Workload("synthetic", A, net.n_components, tuple(net.hidden_layer_sizes),
                            net.batch_size, max_epochs=1)
        return hand_written_loop(workload, seed=0)

    return train


def _incremental_pca(X, net):
    from sklearn.decomposition import IncrementalPCA

    return lambda A: IncrementalPCA(n_components=net.n_components).fit(A)


def _skae_transform(X, net):
    return _fitted_on_a_few_rows(X, net).transform


def _plain_forward(X, net):
    module = _fitted_on_a_few_rows(X, net).module_
    return lambda A: plain_forward(module, A)


def _numpy_copy(X, net):
    return lambda A: A.copy()


# name -> (what it is, setup(X, net) -> a callable run on X, X's dtype where
# it is not the run's)
CONTENDERS = {
    "skae Autoencoder.fit": ("1 epoch", _skae_fit, None),
    "hand-written PyTorch loop": ("1 epoch: randperm + index gather per batch, default Adam",
                                  _hand_written_loop, None),
    "sklearn IncrementalPCA.fit": ("default settings (copy=True)", _incremental_pca, None),
    "skae transform": ("", _skae_transform, None),
    "skae transform, float64 X": ("the same rows in float64", _skae_transform, "float64"),
    "plain float32 no_grad forward": ("module_.encode in 8,192-row chunks", _plain_forward,
                                      None),
    "X.copy()": ("calibration: one full copy", _numpy_copy, None),
}

def _run_child(name, n_rows, n_features, dtype, net):
    """Set up one contender, warm it up, measure its call on X; the figures."""
    _, setup, own_dtype = CONTENDERS[name]
    X = synthetic(n_rows, n_features, own_dtype or dtype)
    call = setup(X, net)
    call(X[:WARM_UP_ROWS])
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = call(X)
        seconds = time.perf_counter() - start
    return {
        "contender": name,
        "rows": n_rows,
        "n_features": n_features,
        "dtype": str(X.dtype),
        "input_bytes": X.nbytes,
        "rss_anon_before": memory.before,
        "rss_anon_peak": memory.peak,
        "added": memory.added,
        "high_water_added": memory.high_water_added,
        "output_bytes": getattr(result, "nbytes", None),
        "seconds": seconds,
        # Only where the contender loaded torch: importing it costs seconds.
        "torch_threads": sys.modules["torch"].get_num_threads() if "torch" in sys.modules
        else None,
    }


# ------------------------------------------------------------------- parent
def measure(contender, n_rows, n_features=784, *, dtype="float32", net=Net(), timeout=900):
    """Run one contender in a fresh process; its figures as a dict.

    ``bytes_per_input_byte`` is the peak RssAnon added over the input's size.
    The child runs one thread (torch, OpenMP and BLAS).
    """
    result = run_fresh_process(
        "benchmarks.memory",
        ["--child", contender, "--rows", str(n_rows), "--features", str(n_features),
         "--dtype", dtype, "--net", json.dumps(asdict(net))],
        timeout=timeout, what=f"measuring {contender!r}",
    )
    result["bytes_per_input_byte"] = result["added"] / result["input_bytes"]
    if result["high_water_added"] is not None:
        result["high_water_per_input_byte"] = result["high_water_added"] / result["input_bytes"]
    return result


def compare(n_rows, n_features=784, *, dtype="float32", net=Net(), contenders=tuple(CONTENDERS),
            workers=2):
    """One report row per contender, each measured in its own process.

    ``workers`` processes run at a time; each has its own memory, so running
    them side by side changes the wall time, not the figures.
    """
    # The slowest first, so that the others run beside it.
    order = sorted(contenders, key=lambda name: name != "sklearn IncrementalPCA.fit")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(measure, name, n_rows, n_features, dtype=dtype, net=net)
                   for name in order}
    rows = []
    for result in (futures[name].result() for name in contenders):
        hwm = result.get("high_water_per_input_byte")
        output = result["output_bytes"]
        rows.append({
            "contender": result["contender"],
            "setting": CONTENDERS[result["contender"]][0],
            "peak added (MB)": result["added"] / 1e6,
            "bytes per input byte": result["bytes_per_input_byte"],
            "VmHWM check": "n/a" if hwm is None else hwm,
            "of which output": "" if output is None else output / result["input_bytes"],
            "limit": LIMITS.get(result["contender"], ""),
            "call (s)": result["seconds"],
        })
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--net", default=json.dumps(asdict(Net())),
                        help="JSON: hidden_layer_sizes, n_components, batch_size")
    parser.add_argument("--child", choices=sorted(CONTENDERS),
                        help="measure this contender in this process; print JSON")
    args = parser.parse_args(argv)
    net = Net(**{k: tuple(v) if isinstance(v, list) else v
                 for k, v in json.loads(args.net).items()})
    if not available():
        sys.exit("memory: /proc/self/status has no RssAnon here (Linux only).")
    if args.child:
        print(json.dumps(_run_child(args.child, args.rows, args.features, args.dtype, net)))
        return
    print(markdown_table(compare(args.rows, args.features, dtype=args.dtype, net=net)))


if __name__ == "__main__":
    main()
