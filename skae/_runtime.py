"""Where and how training runs: device, thread count, seeding."""

import contextlib
import re

import torch

_CUDA_DEVICE = re.compile(r"cuda(:\d+)?")

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
    if device == "cpu":
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


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch for the block without disturbing the caller's RNG state."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield
