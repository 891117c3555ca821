"""GPU training throughput: ``python -m benchmarks.gpu [--quick] [--out FILE] [--compile]``.

Contenders, on one CUDA device, the same dense autoencoder (same layer
sizes, ReLU, Adam at lr 1e-3, MSE), data, batch size and epochs:

* the hand-written eager float32 loop (``randperm`` + index gather,
  default ``torch.optim.Adam``), the reference of every ratio;
* the same loop with fused Adam;
* ``skae.Autoencoder(device="cuda")`` end to end from a host numpy array
  (validation, the host-to-device copy and all), at ``precision`` "float32",
  "tf32" and "bfloat16": its steps are replays of one captured CUDA graph
  (:class:`skae._engine._captured.CapturedTrainStep`, fused capturable Adam);
* skorch's default ``NeuralNetRegressor`` (on the two smaller workloads).

A last section times ``transform`` of a large host float32 array against a
plain float32 ``no_grad`` forward of the same module in the same chunks.

The data are synthetic, generated on the device: rows near a
16-dimensional manifold, squashed into [0, 1] with many pixels near 0 as
in MNIST (no MNIST download: this benchmark must run with no network).
Each contender runs once untimed (warm-up), then all take turns for
``--repeats`` rounds; times are medians, with ``torch.cuda.synchronize()``
around each. TFLOP/s counts 6 x parameters x rows x epochs. The loss
columns are means over the rounds (in each round every contender starts
from the same seed): the last epoch's mean training loss, and the
reconstruction MSE of the trained net over all rows in full float32.

``--compile`` adds a comparison of the engine with ``torch.compile(mode=
"reduce-overhead")`` per training step. Skipped cleanly without CUDA.
"""

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._common import log, markdown_table


@dataclass(frozen=True)
class Workload:
    name: str
    n_rows: int
    n_components: int
    hidden_layer_sizes: tuple
    batch_size: int
    epochs: int
    with_skorch: bool = False
    learning_rate: float = 1e-3

    @property
    def architecture(self):
        sizes = [784, *self.hidden_layer_sizes, self.n_components]
        return "-".join(map(str, sizes + sizes[-2::-1]))


def workloads(quick):
    scale = 10 if quick else 1
    return [
        Workload("(a) MNIST-like 2000x784", 2000, 150, (300,), 256, 15, with_skorch=True),
        Workload(f"(b) {60_000 // scale // 1000}k x 784", 60_000 // scale, 150, (300,), 256,
                 5, with_skorch=True),
        Workload(f"(c) {1_000_000 // scale // 1000}k x 784", 1_000_000 // scale, 64,
                 (1024, 512), 256, 1),
        Workload(f"(c) {1_000_000 // scale // 1000}k x 784", 1_000_000 // scale, 64,
                 (1024, 512), 4096, 2),
    ]


def synthetic_rows(n_rows, seed=0, n_features=784, rank=16):
    """Rows in [0, 1] near a ``rank``-dimensional manifold, made on the device."""
    generator = torch.Generator(device="cuda").manual_seed(seed)
    mixing = torch.randn(rank, n_features, generator=generator, device="cuda")
    chunks = []
    for start in range(0, n_rows, 262_144):
        codes = torch.randn(min(262_144, n_rows - start), rank, generator=generator,
                            device="cuda")
        chunks.append(torch.sigmoid(codes @ mixing - 2.0))
    return torch.cat(chunks)


def make_module(workload, seed):
    from skae.nn import DenseAutoencoderModule

    torch.manual_seed(seed)
    return DenseAutoencoderModule(784, workload.n_components, workload.hidden_layer_sizes).cuda()


def permutations(n_rows, epochs, seed):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    return [torch.randperm(n_rows, generator=generator, device="cuda") for _ in range(epochs)]


# ------------------------------------------------------------------ contenders
def eager_loop(workload, data, seed, fused=False):
    """The loop a user writes: randperm, index gather, Adam, loss summed on the device."""
    X = data["device"]
    module = make_module(workload, seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=workload.learning_rate,
                                 **({"fused": True} if fused else {}))
    batch_size = workload.batch_size
    for order in permutations(len(X), workload.epochs, seed):
        total = torch.zeros((), device="cuda")
        for start in range(0, len(X), batch_size):
            batch = X[order[start : start + batch_size]]
            optimizer.zero_grad()
            loss = F.mse_loss(module(batch).reconstruction, batch)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)
    return float(total / len(X)), module


def captured(workload, data, seed, precision):
    from skae._engine._captured import CapturedTrainStep

    X = data["device"]
    module = make_module(workload, seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=workload.learning_rate,
                                 fused=True, capturable=True)
    engine = CapturedTrainStep(
        module, optimizer, lambda x, y: F.mse_loss(module(x).reconstruction, y), X,
        batch_size=workload.batch_size, precision=precision,
    )
    for order in permutations(len(X), workload.epochs, seed):
        loss = engine.run_epoch(order)
    if engine.fallback_reason:
        raise RuntimeError(f"the engine fell back to eager steps: {engine.fallback_reason}")
    engine.release()
    return float(loss), module


class _Reconstruction(nn.Module):
    """skorch's regressor wants a tensor, not an AutoencoderOutput."""

    def __init__(self, autoencoder):
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, x):
        return self.autoencoder(x).reconstruction


def skorch_default(workload, data, seed):
    from skorch import NeuralNetRegressor

    X = data["host"]
    torch.manual_seed(seed)
    net = NeuralNetRegressor(
        _Reconstruction(make_module(workload, seed)),
        optimizer=torch.optim.Adam,
        lr=workload.learning_rate,
        batch_size=workload.batch_size,
        max_epochs=workload.epochs,
        train_split=None,
        verbose=0,
        device="cuda",
    ).fit(X, X)
    return float(net.history[-1, "train_loss"]), net.module_.autoencoder


def skae_autoencoder(workload, data, seed, precision="float32"):
    from skae import Autoencoder

    est = Autoencoder(
        workload.n_components,
        hidden_layer_sizes=workload.hidden_layer_sizes,
        batch_size=workload.batch_size,
        max_epochs=workload.epochs,
        learning_rate=workload.learning_rate,
        n_iter_no_change=workload.epochs + 1,
        random_state=seed,
        device="cuda",
        precision=precision,
    ).fit(data["host"])
    return float(est.loss_curve_[-1]), est.module_


def contenders(workload, with_skae):
    out = {
        "eager fp32, default Adam": eager_loop,
        "eager fp32, fused Adam": lambda w, d, s: eager_loop(w, d, s, fused=True),
    }
    if workload.with_skorch:
        out["skorch NeuralNetRegressor (default)"] = skorch_default
    if with_skae:
        for precision in ("float32", "tf32", "bfloat16"):
            out[f"skae, {precision}"] = (
                lambda w, d, s, precision=precision: skae_autoencoder(w, d, s, precision)
            )
    else:
        for precision in ("float32", "tf32", "bfloat16"):
            out[f"captured engine, {precision}"] = (
                lambda w, d, s, precision=precision: captured(w, d, s, precision)
            )
    return out


REFERENCE = "eager fp32, default Adam"


# ------------------------------------------------------------------ measuring
def timed(train, workload, data, seed):
    torch.cuda.synchronize()
    start = time.perf_counter()
    loss, module = train(workload, data, seed)
    torch.cuda.synchronize()
    return time.perf_counter() - start, loss, module


@contextlib.contextmanager
def float32_math(precision):
    """torch's float32 math flags for ``precision`` in the block, restored after.

    "tf32" lets matmuls and convolutions round float32 operands to TF32;
    "float32" and "bfloat16" forbid it (bf16 comes from autocast instead),
    as skae's ``precision`` parameter means them.
    """
    matmul, convolution = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    tf32 = precision == "tf32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = convolution


@torch.no_grad()
def reconstruction_mse(module, X):
    """Mean squared error of the trained net over all rows, in full float32."""
    module.eval()
    # Every contender's error in the same arithmetic, whatever it trained in.
    with float32_math("float32"):
        total = 0.0
        for start in range(0, len(X), 65_536):
            batch = X[start : start + 65_536].to(next(module.parameters()).device,
                                                 next(module.parameters()).dtype)
            total += float(F.mse_loss(module(batch).reconstruction.float(), batch.float(),
                                      reduction="sum"))
    return total / X.numel()


def measure(workload, data, repeats, with_skae):
    runs = contenders(workload, with_skae)
    warm = {"device": data["device"][:50_000], "host": data["host"][:50_000]}
    failed = {}
    for name, train in runs.items():
        try:
            train(workload, warm, 0)
        except Exception as exc:  # noqa: BLE001 - report, don't stop the benchmark
            failed[name] = f"{type(exc).__name__}: {exc}"
            log(f"  {name} failed: {failed[name]}")
    times = {name: [] for name in runs if name not in failed}
    results = {}
    for repeat in range(1, repeats + 1):
        for name in times:
            seconds, loss, module = timed(runs[name], workload, data, repeat)
            times[name].append(seconds)
            results.setdefault(name, []).append(
                (loss, reconstruction_mse(module, data["device"]))
            )
            del module
            torch.cuda.empty_cache()
        log(f"  round {repeat}: " + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()))
    n_params = sum(p.numel() for p in make_module(workload, 0).parameters())
    flops = 6 * n_params * workload.n_rows * workload.epochs
    reference = np.median(times[REFERENCE])
    # Mean over the rounds; in each round every contender starts from one seed.
    results = {name: np.mean(values, axis=0) for name, values in results.items()}
    reference_mse = results[REFERENCE][1]
    rows = []
    for name, t in times.items():
        seconds = float(np.median(t))
        loss, mse = results[name]
        rows.append({
            "contender": name,
            "seconds": f"{seconds:.3f}",
            "ratio to eager": f"{seconds / reference:.2f}x",
            "TFLOP/s": f"{flops / seconds / 1e12:.1f}",
            "last-epoch train loss": f"{loss:.5f}",
            "final MSE": f"{mse:.5f}",
            "MSE vs eager": f"{100 * (mse / reference_mse - 1):+.1f} %",
        })
    for name, reason in failed.items():
        rows.append({"contender": name, "seconds": "failed", "ratio to eager": reason[:80],
                     "TFLOP/s": "", "last-epoch train loss": "", "final MSE": "",
                     "MSE vs eager": ""})
    return rows, n_params


# ------------------------------------------------------------ torch.compile
def compile_comparison(n_rows, steps, precisions, batch_size=256):
    """ms per full-batch step: the captured engine vs torch.compile reduce-overhead."""
    from skae._engine._captured import CapturedTrainStep

    workload = Workload("compile", n_rows, 64, (1024, 512), batch_size, 1)
    X = synthetic_rows(n_rows, seed=1)
    rows = []
    for precision in precisions:
        module = make_module(workload, 0)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True, capturable=True)
        engine = CapturedTrainStep(
            module, optimizer, lambda x, y, m=module: F.mse_loss(m(x).reconstruction, y), X,
            batch_size=batch_size, precision=precision,
        )
        orders = [o[: steps * batch_size] for o in permutations(n_rows, 3, 0)]
        start = time.perf_counter()
        float(engine.run_epoch(orders[0]))
        first = time.perf_counter() - start
        torch.cuda.synchronize()
        start = time.perf_counter()
        loss = float(engine.run_epoch(orders[1])) + float(engine.run_epoch(orders[2]))
        step_ms = (time.perf_counter() - start) / (2 * steps) * 1e3
        rows.append({"step": f"captured engine, {precision}", "first epoch (s)": f"{first:.2f}",
                     "ms per step": f"{step_ms:.3f}", "loss": f"{loss / 2:.5f}"})
        log(f"  {rows[-1]}")
        engine.release()

        try:
            torch._dynamo.reset()
            module = make_module(workload, 0)
            lr = torch.tensor(1e-3, device="cuda")
            optimizer = torch.optim.Adam(module.parameters(), lr=lr, capturable=True)

            def loss_of(index):
                batch = X.index_select(0, index)
                return F.mse_loss(module(batch).reconstruction, batch)

            compiled_loss = torch.compile(loss_of, mode="reduce-overhead")

            @torch.compile(mode="reduce-overhead")
            def optimizer_step():
                optimizer.step()

            def epoch(order):
                total = torch.zeros((), device="cuda")
                for s in range(steps):
                    torch.compiler.cudagraph_mark_step_begin()
                    optimizer.zero_grad(set_to_none=True)
                    loss = compiled_loss(order[s * batch_size : (s + 1) * batch_size])
                    loss.backward()
                    optimizer_step()
                    total += loss.detach()
                return float(total / steps)

            with float32_math(precision):
                start = time.perf_counter()
                epoch(orders[0])
                first = time.perf_counter() - start
                torch.cuda.synchronize()
                start = time.perf_counter()
                loss = epoch(orders[1]) + epoch(orders[2])
                step_ms = (time.perf_counter() - start) / (2 * steps) * 1e3
            rows.append({"step": f'torch.compile(mode="reduce-overhead"), {precision}',
                         "first epoch (s)": f"{first:.2f}", "ms per step": f"{step_ms:.3f}",
                         "loss": f"{loss / 2:.5f}"})
        except Exception as exc:  # noqa: BLE001 - report, don't stop the benchmark
            rows.append({"step": f"torch.compile, {precision}", "first epoch (s)": "failed",
                         "ms per step": f"{type(exc).__name__}: {str(exc)[:100]}", "loss": ""})
        log(f"  {rows[-1]}")
    return rows


# ----------------------------------------------------------------------- main
def inference_comparison(n_rows, repeats):
    """``transform`` of host float32 rows against a plain chunked float32 forward."""
    from skae import Autoencoder

    X = synthetic_rows(n_rows).cpu().numpy()
    est = Autoencoder(64, hidden_layer_sizes=(1024, 512), max_epochs=1, batch_size=4096,
                      random_state=0, device="cuda").fit(X[:100_000])
    module = est.module_
    chunk = 8192

    def plain_forward():
        out = np.empty((len(X), 64), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(X), chunk):
                rows = torch.from_numpy(X[start : start + chunk]).to("cuda")
                out[start : start + chunk] = module.encode(rows).cpu().numpy()
        return out

    runs = {"plain float32 no_grad forward, 8192-row chunks": plain_forward,
            "skae transform": lambda: est.transform(X)}
    times = {name: [] for name in runs}
    outputs = {}
    for _ in range(repeats + 1):  # the first round warms up
        for name, run in runs.items():
            torch.cuda.synchronize()
            start = time.perf_counter()
            outputs[name] = run()
            torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    reference = np.median(times["plain float32 no_grad forward, 8192-row chunks"][1:])
    rows = []
    for name, t in times.items():
        seconds = float(np.median(t[1:]))
        rows.append({"contender": name, "seconds": f"{seconds:.3f}",
                     "speed vs plain forward": f"{reference / seconds:.2f}x",
                     "rows/s": f"{n_rows / seconds:.3g}"})
    difference = np.abs(outputs["skae transform"] - outputs[
        "plain float32 no_grad forward, 8192-row chunks"]).max()
    return rows, float(difference)


def header():
    lines = [
        f"- device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}",
    ]
    try:
        import skorch

        lines[0] += f", skorch {skorch.__version__}"
    except ImportError:
        pass
    lines.append("- data: synthetic rows on the device (784 features in [0, 1], near a "
                 "16-dimensional manifold), not MNIST itself; skorch and skae get the same "
                 "rows as a host float32 numpy array")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmark-report") / "gpu.md",
                        help="the Markdown file to write (default: benchmark-report/gpu.md)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, one round")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3)")
    parser.add_argument("--no-skae", action="store_true", help="leave out skae.Autoencoder")
    parser.add_argument("--compile", action="store_true",
                        help='also compare with torch.compile(mode="reduce-overhead")')
    parser.add_argument("--only", default=None,
                        help="comma-separated workload letters to run, e.g. 'a,c'")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("CUDA is not available: the GPU benchmark is skipped.")
        return 0
    repeats = args.repeats or (1 if args.quick else 3)
    sections = ["# GPU training throughput", "", header(),
                f"- medians of {repeats} interleaved rounds after one untimed warm-up each; "
                "ratio = time over the eager fp32 loop with default Adam; losses are means "
                "over the rounds"]
    data_cache = {}
    for workload in workloads(args.quick):
        if args.only and workload.name[1] not in args.only.split(","):
            continue
        log(f"{workload.name}, batch {workload.batch_size}, {workload.epochs} epochs")
        if workload.n_rows not in data_cache:
            data_cache.clear()
            X = synthetic_rows(workload.n_rows)
            data_cache[workload.n_rows] = {"device": X, "host": X.cpu().numpy()}
        rows, n_params = measure(workload, data_cache[workload.n_rows], repeats,
                                 with_skae=not args.no_skae)
        sections += ["", f"## {workload.name}, {workload.architecture} ({n_params / 1e6:.2f}M "
                         f"parameters), batch {workload.batch_size}, {workload.epochs} "
                         f"epoch{'s' if workload.epochs > 1 else ''}", "", markdown_table(rows)]
        print("\n".join(sections[-3:]), flush=True)
    if args.compile:
        data_cache.clear()
        n_rows, steps = (200_000, 300) if args.quick else (1_000_000, 1000)
        log(f"torch.compile comparison: {steps} steps of batch 256")
        precisions = ("float32",) if args.quick else ("float32", "tf32")
        rows = compile_comparison(n_rows, steps, precisions)
        sections += ["", f"## Captured engine vs torch.compile, 784-1024-512-64, batch 256, "
                         f"{steps} steps per epoch", "", markdown_table(rows)]
    n_rows = 100_000 if args.quick else 1_000_000
    log(f"inference: transform of {n_rows} host float32 rows")
    rows, difference = inference_comparison(n_rows, repeats)
    sections += ["", f"## Inference: {n_rows} x 784 host float32 rows, 784-1024-512-64 encoder",
                 "", markdown_table(rows), "",
                 f"Largest difference between the two outputs: {difference:.2g}."]
    report = "\n".join(sections) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print("\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
