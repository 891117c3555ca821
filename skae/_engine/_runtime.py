"""Where and how training runs: device, thread count, seeding."""

import contextlib
import re
import signal
import threading

import torch

from ..nn._random import drawing_from

_CUDA_DEVICE = re.compile(r"cuda(:\d+)?")
_CPU_DEVICE = re.compile(r"cpu(:0)?")

# Below this many multiply-adds per training step, a step is dominated by
# per-operation overhead, and splitting its tiny matmuls over threads costs
# more in synchronisation than it gains (measured in benchmarks/throughput).
SMALL_STEP_FLOPS = 2_000_000


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``, or raise.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).

    Returns
    -------
    device : torch.device
        The device it names on this machine.

    Raises
    ------
    ValueError
        If CUDA is asked for and not available, or the name is none of these.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, str) and _CPU_DEVICE.fullmatch(device):
        # A CPU has one device whatever its index: torch.device("cpu", 0) is it.
        return torch.device("cpu")
    if isinstance(device, str) and _CUDA_DEVICE.fullmatch(device):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available; "
                "use device='cpu' or device='auto'."
            )
        resolved = torch.device(device)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
        return resolved
    raise ValueError(
        f"The 'device' parameter must be 'cpu', 'cuda', 'cuda:N' or 'auto'. Got {device!r}."
    )


def step_flops(module, batch_size):
    """Rough multiply-adds of one forward pass: parameters times batch rows."""
    return batch_size * sum(p.numel() for p in module.parameters())


# The intra-op thread count is process-wide: while fits overlap in threads,
# the first to start sets it and the last to end puts back the count it
# found, so that no fit changes the count under another's feet.
_THREADS_LOCK = threading.Lock()
_THREADS_IN_USE = {"fits": 0, "before": None}


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run with ``n_threads`` intra-op threads (None: torch's count), restoring the count.

    A fit that starts while another runs keeps the count that one set.
    """
    with _THREADS_LOCK:
        if _THREADS_IN_USE["fits"] == 0:
            _THREADS_IN_USE["before"] = torch.get_num_threads()
            if n_threads is not None and n_threads != _THREADS_IN_USE["before"]:
                torch.set_num_threads(n_threads)
        _THREADS_IN_USE["fits"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_IN_USE["fits"] -= 1
            before = _THREADS_IN_USE["before"]
            if _THREADS_IN_USE["fits"] == 0 and torch.get_num_threads() != before:
                torch.set_num_threads(before)


# torch initialises weights from one process-wide generator, and a seeded
# fit must not depend on its neighbours: initialisation (building a
# family's module, which may train stages of its own) runs one fit at a time
# under a seeded fork of that generator. Training draws (shuffles, noise,
# dropout masks, samples) come from a generator of the fit's own, set in a
# context variable each thread sees apart, so fits train side by side.
# Re-entrant, as a fit may run another inside it (a classifier pretraining
# its autoencoder).
_GLOBAL_RNG_LOCK = threading.RLock()
# The 64-bit golden-ratio constant: seeds that differ by one give unrelated
# training streams.
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch's generator for the block without disturbing the caller's RNG state.

    Blocks run one at a time across threads, so the same seed gives the
    same draws whatever else the process is doing. For initialisation: a
    fit's training runs in :func:`training_draws`, outside the lock.
    """
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def training_draws(seed, device):
    """The block's random draws from a generator of its own, seeded by ``seed``.

    skae's engine and modules draw from it (:mod:`skae.nn`'s noise layers,
    shuffles, validation splits), so two fits in two threads give the
    models they give one after the other. A user's module that draws from
    torch's default generator (``torch.nn.Dropout``) is not covered: its
    fits are reproducible when they run one at a time, and its draws advance
    that generator as they would outside a fit. On CUDA, where a
    captured step replays draws of the default CUDA generator, training
    draws from that generator, seeded, one fit at a time, as before.
    """
    if device.type == "cuda":
        with seeded(seed, device), drawing_from(None):
            yield
        return
    # A stream apart from the one initialisation drew from the same seed.
    generator = torch.Generator().manual_seed((seed * _GOLDEN_GAMMA + 1) % 2**63)
    # torch's default generator is neither saved nor restored here: skae
    # draws nothing from it while training, and putting it back would rewind
    # the draws other threads made meanwhile.
    with drawing_from(generator):
        yield


@contextlib.contextmanager
def watch_interrupts():
    """Record whether a real Ctrl-C (SIGINT) arrives during the block.

    skorch callbacks ask training to stop by raising ``KeyboardInterrupt``
    (``EarlyStopping`` does), so the exception alone does not tell a user's
    Ctrl-C from a callback's request. Yields a dict whose ``"fired"`` is set
    when the signal arrives; the previous handler still runs. Signals reach
    the main thread only, so elsewhere nothing is installed; nor where the
    process ignores SIGINT.
    """
    state = {"fired": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        # The process ignores Ctrl-C (started under nohup, or as a shell's
        # background job): so does training.
        yield state
        return

    def on_sigint(signum, frame):
        state["fired"] = True
        if callable(previous):
            previous(signum, frame)
        else:
            signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
