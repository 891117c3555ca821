"""Where and how training runs: device, thread count, seeding."""

import contextlib
import re
import signal
import threading

import torch

_CUDA_DEVICE = re.compile(r"cuda(:\d+)?")
_CPU_DEVICE = re.compile(r"cpu(:0)?")

# Below this many multiply-adds per training step, a step is dominated by
# per-operation overhead, and splitting its tiny matmuls over threads costs
# more in synchronisation than it gains (measured in benchmarks/throughput).
SMALL_STEP_FLOPS = 2_000_000


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``, or raise."""
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


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run with ``n_threads`` intra-op threads, restoring the previous count."""
    previous = torch.get_num_threads()
    if n_threads is None or n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# torch draws weights, shuffles, noise and dropout masks from one
# process-wide generator. Two fits in two threads interleave their draws (and
# fork_rng's save-and-restore of that generator), so a seeded fit would
# depend on its neighbours: seeded blocks run one at a time. Re-entrant, as
# a fit may run another inside it (a classifier pretraining its autoencoder).
_GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch for the block without disturbing the caller's RNG state.

    Blocks run one at a time across threads, so the same seed gives the
    same draws whatever else the process is doing.
    """
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
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
