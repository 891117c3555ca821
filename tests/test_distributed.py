"""Data-parallel training (skae.data_parallel): two CPU processes on loopback."""

import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skae import Autoencoder, TrainingDivergedError, data_parallel
from skae._engine._data_parallel import (
    ShardedBatches,
    _copy_of_torch_generator,
    _LocalTraining,
    training_engine,
)
from skae._engine._net import AutoencoderNet, GatheredBatches, RowSubset

pytest.importorskip("accelerate")

REPO = Path(__file__).resolve().parents[1]

# A plateau does not stop the fits early, so both run the same number of
# epochs.
SETTINGS = dict(
    n_components=8, hidden_layer_sizes=(32,), batch_size=64, max_epochs=15,
    n_iter_no_change=100, learning_rate=3e-3, random_state=0, device="cpu",
)
# Digits rows trained on: 28 steps of 64 rows and a last one of 5, which
# the two processes split 3 and 2.
N_ROWS = 1797

WORKER = textwrap.dedent(
    """
    import json, pickle, sys, warnings
    from pathlib import Path

    import numpy as np
    from sklearn.datasets import load_digits

    from skae import Autoencoder, AutoencoderClassifier, data_parallel

    out, settings = Path(sys.argv[1]), json.loads(sys.argv[2])
    settings["hidden_layer_sizes"] = tuple(settings["hidden_layer_sizes"])
    X = (load_digits().data[:N_ROWS] / 16).astype(np.float32)
    y = load_digits().target[:N_ROWS]
    warnings.simplefilter("ignore")
    with data_parallel() as accelerator:
        ae = Autoencoder(**settings).fit(X)
    rank = accelerator.process_index
    weights = np.concatenate([p.detach().numpy().ravel() for p in ae.module_.parameters()])
    np.save(out / f"weights{rank}.npy", weights)
    # Early stopping on held-out rows: a row count that does not split evenly.
    with data_parallel():
        stopped = Autoencoder(n_components=4, hidden_layer_sizes=(16,), max_epochs=6,
                              early_stopping=True, n_iter_no_change=2, random_state=0,
                              device="cpu").fit(X[:1001])
    # A classifier fine-tunes its encoder: the decoder's parameters go unused.
    with data_parallel():
        classifier = AutoencoderClassifier(
            Autoencoder(n_components=4, hidden_layer_sizes=(16,), max_epochs=2,
                        random_state=0, device="cpu"),
            max_epochs=2, random_state=0,
        ).fit(X[:500], y[:500])
    np.save(out / f"classifier{rank}.npy", np.concatenate(
        [p.detach().numpy().ravel() for p in classifier.net_.module_.parameters()]))
    (out / f"rank{rank}.json").write_text(json.dumps({
        "n_processes": accelerator.num_processes,
        "loss_curve": ae.loss_curve_,
        "batch_counts": list(ae.history_[:, "train_batch_count"]),
        "validation_scores": stopped.validation_scores_,
        "stopped_loss_curve": stopped.loss_curve_,
    }))
    if accelerator.is_main_process:
        (out / "model.pkl").write_bytes(pickle.dumps(ae))
    """
).replace("N_ROWS", str(N_ROWS))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _digits32(n_rows=N_ROWS):
    return (load_digits().data[:n_rows] / 16).astype(np.float32)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Run WORKER as ranks 0 and 1 of a gloo group on 127.0.0.1; its outputs."""
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available")
    out = tmp_path_factory.mktemp("data_parallel")
    script = out / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2",
        "LOCAL_WORLD_SIZE": "2",
        "OMP_NUM_THREADS": "1",
        # CPU processes even where there is a GPU: two ranks cannot share one.
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    ranks = [
        subprocess.Popen(
            [sys.executable, str(script), str(out), json.dumps(SETTINGS)],
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in range(2)
    ]
    logs = []
    for process in ranks:
        try:
            logs.append(process.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for other in ranks:
                other.kill()
            raise
    failed = [(rank, log) for rank, (p, log) in enumerate(zip(ranks, logs)) if p.returncode]
    assert not failed, "\n".join(f"rank {rank}:\n{log[-3000:]}" for rank, log in failed)
    return out


def _single_process_fit(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Autoencoder(**SETTINGS).fit(X)


@pytest.fixture(scope="module")
def single_process():
    """The same estimator fitted by this process alone."""
    return _single_process_fit(_digits32())


def test_two_processes_train_one_model(two_processes, single_process):
    reports = [json.loads((two_processes / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["n_processes"] for r in reports] == [2, 2]
    # The epoch loss is averaged over both processes: the same in each.
    assert reports[0]["loss_curve"] == reports[1]["loss_curve"]
    assert len(reports[0]["loss_curve"]) == SETTINGS["max_epochs"]
    # Gradients are averaged after every step: the weights stay identical.
    assert_allclose(np.load(two_processes / "weights0.npy"),
                    np.load(two_processes / "weights1.npy"), rtol=0, atol=0)
    # Each process takes its share of every step one process takes.
    expected = list(single_process.history_[:, "train_batch_count"])
    assert reports[0]["batch_counts"] == expected


def test_two_processes_fine_tune_a_classifier(two_processes):
    # Its steps leave the decoder's parameters unused, which
    # DistributedDataParallel accepts with the static graph data_parallel sets.
    assert_allclose(np.load(two_processes / "classifier0.npy"),
                    np.load(two_processes / "classifier1.npy"), rtol=0, atol=0)


def test_two_processes_validate_and_stop_alike(two_processes):
    reports = [json.loads((two_processes / f"rank{r}.json").read_text()) for r in range(2)]
    # Held-out rows drawn alike and their loss averaged over both processes:
    # the same scores, and the same epoch to stop at, in each.
    assert reports[0]["validation_scores"] == reports[1]["validation_scores"]
    assert reports[0]["stopped_loss_curve"] == reports[1]["stopped_loss_curve"]
    assert 1 <= len(reports[0]["validation_scores"]) <= 6
    assert np.all(np.isfinite(reports[0]["validation_scores"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        alone = Autoencoder(n_components=4, hidden_layer_sizes=(16,), max_epochs=6,
                            early_stopping=True, n_iter_no_change=2, random_state=0,
                            device="cpu").fit(_digits32(1001))
    # The same held-out rows and the same steps as one process.
    assert_allclose(reports[0]["validation_scores"], alone.validation_scores_, rtol=1e-5)
    assert_allclose(reports[0]["stopped_loss_curve"], alone.loss_curve_, rtol=1e-5)


def test_two_process_error_matches_one_process(two_processes, single_process):
    X = _digits32()
    parallel = pickle.loads((two_processes / "model.pkl").read_bytes())
    parallel_error, single_error = -parallel.score(X), -single_process.score(X)
    assert abs(parallel_error - single_error) <= 0.02 * single_error, (
        parallel_error, single_error)


def test_two_processes_take_the_steps_of_one(two_processes, single_process):
    # Both processes draw the row order one process draws from the same
    # seed: their steps together are its steps, over the same rows, so the
    # two models differ by rounding only.
    X = _digits32()
    parallel = pickle.loads((two_processes / "model.pkl").read_bytes())
    assert_allclose(parallel.loss_curve_, single_process.loss_curve_, rtol=1e-5)
    assert_allclose(-parallel.score(X), -single_process.score(X), rtol=1e-5)


def test_pickle_loads_and_transforms_in_a_plain_process(two_processes):
    # This test process never joined a process group.
    assert not torch.distributed.is_initialized()
    parallel = pickle.loads((two_processes / "model.pkl").read_bytes())
    assert type(parallel.net_) is AutoencoderNet
    assert isinstance(parallel.module_, torch.nn.Module)
    assert not isinstance(parallel.module_, torch.nn.parallel.DistributedDataParallel)
    X = _digits32()
    codes = parallel.transform(X)
    assert codes.shape == (len(X), SETTINGS["n_components"])
    assert codes.dtype == np.float32
    assert parallel.inverse_transform(codes).shape == X.shape
    # It continues training in a single process, as any fitted model does.
    parallel.set_params(warm_start=True, max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        parallel.fit(X)
    assert parallel.n_iter_ == SETTINGS["max_epochs"] + 1


# ------------------------------------------------------- in one process
@pytest.mark.parametrize(
    "n_rows, batch_size, n_processes", [(10, 4, 2), (11, 4, 2), (7, 5, 3), (9, 3, 2), (3, 8, 4)]
)
def test_shards_split_the_steps_of_one_process(n_rows, batch_size, n_processes):
    X = torch.arange(n_rows, dtype=torch.float32)[:, None]
    subset = RowSubset((X, X))
    # The steps one process takes, from the same state of torch's generator.
    torch.manual_seed(0)
    steps = [batch[0][:, 0].long().tolist()
             for batch in GatheredBatches(subset, batch_size, shuffle=True, device="cpu")]
    shares = []
    for rank in range(n_processes):
        generator = torch.Generator().manual_seed(0)
        batches = ShardedBatches(subset, batch_size, shuffle=True, device="cpu", rank=rank,
                                 n_processes=n_processes, generator=generator)
        share = [(batch[0][:, 0].long().tolist(), batches.step_weight) for batch in batches]
        assert len(share) == len(batches) == len(steps)
        shares.append(share)
    for k, step in enumerate(steps):
        taken = [shares[rank][k] for rank in range(n_processes)]
        # Together, the processes take each row of the step once.
        rows = [row for rows, weight in taken if weight for row in rows]
        assert sorted(rows) == sorted(step)
        # Weights make the mean of the processes' weighted losses the
        # step's mean loss: n_processes times each one's share of the step.
        for rows_taken, weight in taken:
            if weight:
                assert weight == pytest.approx(n_processes * len(rows_taken) / len(step))
            else:  # a process left without a row computes on one, unweighted
                assert len(rows_taken) == 1 and rows_taken[0] in step
        assert sum(weight for _, weight in taken) == pytest.approx(n_processes)
    assert sorted(row for step in steps for row in step) == list(range(n_rows))


def test_shards_stay_apart_when_processes_draw_different_noise():
    # Noise for different numbers of rows moves torch's generator on by
    # different amounts in different processes; the row order does not.
    X = torch.arange(11, dtype=torch.float32)[:, None]
    subset = RowSubset((X, X))
    passes = {}
    for rank in range(2):
        torch.manual_seed(0)
        generator = _copy_of_torch_generator("cpu")
        batches = ShardedBatches(subset, 4, shuffle=True, device="cpu", rank=rank,
                                 n_processes=2, generator=generator)
        passes[rank] = []
        for _ in range(3):
            rows = []
            for batch in batches:
                torch.randn(len(batch[0]), 5)  # this process's noise
                if batches.step_weight:
                    rows += batch[0][:, 0].long().tolist()
            passes[rank].append(rows)
    for first, second in zip(passes[0], passes[1]):
        assert sorted(first + second) == list(range(11))


def test_one_process_block_fits_a_plain_estimator():
    X = _digits32()[:300]
    with data_parallel() as accelerator:
        assert accelerator.num_processes == 1
        ae = Autoencoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=3,
                         random_state=0, device="cpu").fit(X)
        again = Autoencoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=3,
                            random_state=0, device="cpu").fit(X)
    assert_allclose(ae.transform(X), again.transform(X))
    assert type(ae.net_) is AutoencoderNet
    assert not any("accelerat" in name or "parallel" in name for name in vars(ae.net_))
    assert type(ae.net_.optimizer_).__module__.startswith("torch.optim")
    # Outside the block, fits train in this process alone again.
    assert isinstance(training_engine(), _LocalTraining)
    loaded = pickle.loads(pickle.dumps(ae))
    assert_allclose(loaded.transform(X), ae.transform(X))


def test_failed_fit_in_block_leaves_the_model_as_it_was():
    X = _digits32()[:300]
    ae = Autoencoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=2,
                     random_state=0, device="cpu", warm_start=True).fit(X)
    before = {k: v.clone() for k, v in ae.module_.state_dict().items()}
    n_iter = ae.n_iter_
    ae.set_params(learning_rate=1e9)
    with data_parallel(), pytest.raises(TrainingDivergedError):
        ae.fit(X * 1e3)
    assert type(ae.net_) is AutoencoderNet
    assert type(ae.net_.optimizer_).__module__.startswith("torch.optim")
    assert ae.n_iter_ == n_iter
    for name, value in ae.module_.state_dict().items():
        assert torch.equal(value, before[name])


def test_bad_accelerator_or_device_is_refused():
    with pytest.raises(TypeError, match="accelerate.Accelerator"):
        with data_parallel(accelerator="cpu"):
            pass
    if torch.cuda.is_available():
        pytest.skip("the refused device is the CPU's other, CUDA")
    ae = Autoencoder(n_components=2, device="cuda")
    with data_parallel(), pytest.raises(ValueError, match="device"):
        ae.fit(_digits32()[:50])
    assert not hasattr(ae, "net_")


def test_lbfgs_is_refused_before_training():
    ae = Autoencoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=2,
                     optimizer=torch.optim.LBFGS, random_state=0, device="cpu")
    with data_parallel(), pytest.raises(ValueError, match="LBFGS"):
        ae.fit(_digits32(100))
    assert not hasattr(ae, "net_")
