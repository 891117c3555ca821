"""A user's own torch network as encoder= / decoder=: every guarantee skae gives its own."""

import functools
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from torch import nn

from skae import (
    Autoencoder,
    AutoencoderClassifier,
    AutoencoderOutlierDetector,
    DenoisingAutoencoder,
    ParametricTSNE,
    SparseAutoencoder,
    TrainingDivergedError,
    TrainingInterrupted,
    TrainingInterruptedWarning,
    VariationalAutoencoder,
)

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


# ------------------------------------------------------------- the networks
class ResidualMLP(nn.Module):
    """A residual block with layer norm between two linear maps: not a skae design."""

    def __init__(self, n_in, n_out, width=16):
        super().__init__()
        self.into = nn.Linear(n_in, width)
        self.norm = nn.LayerNorm(width)
        self.hidden = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)

    def forward(self, x):
        h = torch.relu(self.into(x))
        h = h + torch.relu(self.hidden(self.norm(h)))
        return self.out(h)


class Encoder(ResidualMLP):
    """A factory as well as a module: called with the fit's shapes."""

    def __init__(self, n_features, n_components, width=16):
        super().__init__(n_features, n_components, width)


class Decoder(ResidualMLP):
    def __init__(self, n_features, n_components, width=16):
        super().__init__(n_components, n_features, width)


class CapturableEncoder(Encoder):
    graph_capturable = True


class CapturableDecoder(Decoder):
    graph_capturable = True


class TupleOutput(nn.Module):
    def __init__(self, n_features, n_components):
        super().__init__()
        self.linear = nn.Linear(n_features, n_components)

    def forward(self, x):
        return self.linear(x), x


class LeavesTorch(nn.Module):
    """A forward pass through numpy: it trains, but torch.onnx cannot trace it."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.linear = nn.Linear(n_features, n_components)

    def forward(self, x):
        shift = torch.from_numpy(np.asarray(x.detach().cpu().numpy().mean(), dtype=np.float32))
        return self.linear(x - shift)


N_FEATURES, N_COMPONENTS = 64, 4
QUICK = dict(max_epochs=3, batch_size=64, learning_rate=3e-3, device="cpu", random_state=0)


def own(estimator_class=Autoencoder, **params):
    """``estimator_class`` with module instances as its encoder and decoder."""
    settings = dict(
        n_components=N_COMPONENTS,
        encoder=Encoder(N_FEATURES, N_COMPONENTS),
        decoder=Decoder(N_FEATURES, N_COMPONENTS),
        **QUICK,
    )
    settings.update(params)
    return estimator_class(**settings)


def weights(module):
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in module.parameters()])


@pytest.fixture(scope="module")
def X():
    from sklearn.datasets import load_digits

    return load_digits().data[:600] / 16


# ---------------------------------------------------------- the parameters
def test_the_given_instance_is_copied_never_trained_in_place(X):
    encoder = Encoder(N_FEATURES, N_COMPONENTS)
    before = weights(encoder)
    est = own(encoder=encoder).fit(X)
    # The parameter stays what was passed; the model is a copy.
    assert est.get_params()["encoder"] is encoder
    assert_array_equal(weights(encoder), before)
    assert est.module_.encoder is not encoder
    assert isinstance(est.module_.encoder, Encoder)
    # Two fits of one estimator do not share weights.
    first = est.module_
    est.fit(X)
    assert est.module_.encoder is not first.encoder
    check_is_fitted(clone(est).fit(X))


def test_same_random_state_same_weights_whatever_the_instance_held(X):
    # reset_parameters() runs under the fit's seed on the copy: two
    # differently initialised instances give the same model.
    torch.manual_seed(1)
    first = own(encoder=Encoder(N_FEATURES, N_COMPONENTS)).fit(X)
    torch.manual_seed(2)
    second = own(encoder=Encoder(N_FEATURES, N_COMPONENTS)).fit(X)
    assert_array_equal(first.transform(X), second.transform(X))
    other = own(random_state=1).fit(X)
    assert np.abs(other.transform(X) - first.transform(X)).max() > 1e-3


def test_a_factory_is_called_with_the_fits_shapes_under_its_seed(X):
    calls = []

    def factory(n_features, n_components):
        calls.append((n_features, n_components))
        return Encoder(n_features, n_components, width=8)

    est = own(encoder=factory, decoder=functools.partial(Decoder, width=8))
    a = est.fit(X).transform(X)
    b = clone(est).fit(X).transform(X)
    assert calls == [(N_FEATURES, N_COMPONENTS)] * 2
    assert est.module_.encoder.into.out_features == 8
    assert_array_equal(a, b)


def test_an_encoder_alone_decodes_with_the_dense_mirror(X):
    est = Autoencoder(N_COMPONENTS, encoder=Encoder(N_FEATURES, N_COMPONENTS),
                      hidden_layer_sizes=(24,), **QUICK).fit(X)
    linears = [m for m in est.module_.decoder.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 24), (24, 64)]
    assert est.inverse_transform(est.transform(X)).shape == X.shape


# ------------------------------------------------------------ the contract
@pytest.mark.parametrize("params, error, match", [
    ({"encoder": Encoder(N_FEATURES, 6)}, ValueError,
     r"encoder maps a batch of shape \(2, 64\) to shape \(2, 6\); it must give \(2, 4\)"),
    ({"encoder": Encoder(10, N_COMPONENTS)}, ValueError,
     r"encoder fails on a batch of shape \(2, 64\)"),
    ({"decoder": Decoder(32, N_COMPONENTS)}, ValueError,
     r"decoder maps a batch of shape \(2, 4\) to shape \(2, 32\); it must give \(2, 64\)"),
    ({"encoder": TupleOutput(N_FEATURES, N_COMPONENTS)}, TypeError,
     r"encoder must return one tensor of shape \(2, 4\); got a tuple"),
    ({"encoder": "a network"}, TypeError, r"'encoder' parameter of Autoencoder must be an instance of 'torch.nn.*Module', a callable"),
    ({"decoder": lambda n_features, n_components: "not a module"}, TypeError,
     r"decoder\(n_features=64, n_components=4\) must return a torch.nn.Module"),
    ({"tied_weights": True}, ValueError, r"tied_weights=True needs skae's own network"),
    ({"pretrain": "layerwise"}, ValueError, r"pretrain='layerwise' needs skae's own network"),
])
def test_a_broken_network_is_named_before_any_training_step(params, error, match, X):
    class Count(Callback):
        def initialize(self):
            self.batches = 0
            return self

        def on_batch_begin(self, net, **kwargs):
            self.batches += 1

    counter = Count()
    est = own(callbacks=[counter], **params)
    with pytest.raises(error, match=match):
        est.fit(X)
    assert not hasattr(est, "net_")
    assert getattr(counter, "batches", 0) == 0


def test_the_dry_run_leaves_batch_norm_statistics_alone(X):
    encoder = nn.Sequential(nn.Linear(N_FEATURES, 8), nn.BatchNorm1d(8), nn.ReLU(),
                            nn.Linear(8, N_COMPONENTS))
    est = own(encoder=encoder, max_epochs=1).fit(X)
    # One epoch's batches moved the running statistics; the two zero rows
    # of the dry run (eval mode) did not add a batch of their own.
    batches = int(np.ceil(len(X) / QUICK["batch_size"]))
    assert est.module_.encoder[1].num_batches_tracked.item() == batches


@pytest.mark.parametrize("estimator_class, params", [
    (DenoisingAutoencoder, {}),
    (SparseAutoencoder, {}),
    (VariationalAutoencoder, {}),
])
def test_every_dense_family_trains_a_users_network(estimator_class, params, X):
    est = own(estimator_class, **params).fit(X)
    codes = est.transform(X)
    assert codes.shape == (len(X), N_COMPONENTS)
    assert est.inverse_transform(codes).shape == X.shape
    assert isinstance(est.module_.encoder, Encoder)
    assert np.isfinite(est.score(X))


def test_the_variational_family_puts_its_heads_on_the_users_encoder(X):
    est = own(VariationalAutoencoder).fit(X)
    assert est.module_.mean_head.in_features == N_COMPONENTS
    samples = est.sample(5, random_state=0)
    assert samples.shape == (5, N_FEATURES)


def test_parametric_tsne_trains_a_users_map(X):
    tsne = ParametricTSNE(encoder=functools.partial(Encoder, width=8), perplexity=5,
                          max_epochs=3, device="cpu", random_state=0)
    embedding = tsne.fit_transform(X[:200])
    assert embedding.shape == (200, 2)
    assert isinstance(tsne.module_.network, Encoder)
    assert_allclose(tsne.transform(X[:200]), embedding, atol=1e-5)
    with pytest.raises(ValueError, match="encoder maps a batch"):
        ParametricTSNE(encoder=Encoder(N_FEATURES, 3), perplexity=5, max_epochs=1,
                       device="cpu").fit(X[:100])


def test_graph_capture_only_for_a_network_that_declares_it(X):
    plain = own().fit(X[:64])
    assert plain.module_.graph_capturable is False
    half = own(decoder=CapturableDecoder(N_FEATURES, N_COMPONENTS)).fit(X[:64])
    assert half.module_.graph_capturable is False
    both = own(encoder=CapturableEncoder(N_FEATURES, N_COMPONENTS),
               decoder=CapturableDecoder(N_FEATURES, N_COMPONENTS)).fit(X[:64])
    assert both.module_.graph_capturable is True
    # A half skae builds declares it.
    mixed = Autoencoder(N_COMPONENTS, encoder=CapturableEncoder(N_FEATURES, N_COMPONENTS),
                        **QUICK).fit(X[:64])
    assert mixed.module_.graph_capturable is True


# ------------------------------------------------------ failure and faults
def test_divergence_raises_and_a_failed_refit_keeps_the_model(X):
    est = own().fit(X)
    codes, state = est.transform(X), dict(vars(est))
    est.set_params(learning_rate=1e6)
    with pytest.raises(TrainingDivergedError):
        est.fit(X * 1e3)
    assert est.net_ is state["net_"]
    assert_array_equal(est.transform(X), codes)
    fresh = own(learning_rate=1e6)
    with pytest.raises(TrainingDivergedError):
        fresh.fit(X * 1e3)
    assert not hasattr(fresh, "net_")


def test_ctrl_c_keeps_the_last_completed_epoch(X):
    from test_fitted_state import InterruptAt

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        est = own(max_epochs=50, n_iter_no_change=100, callbacks=[InterruptAt(2)])
        with pytest.warns(TrainingInterruptedWarning):
            with pytest.raises(TrainingInterrupted):
                est.fit(X)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert est.n_iter_ == 2 == len(est.loss_curve_)
    codes = est.transform(X)
    assert codes.shape == (len(X), N_COMPONENTS)
    assert_allclose(est.score(X), -np.mean((est.inverse_transform(codes) - X) ** 2), rtol=1e-4)


def test_a_pickle_holds_the_trained_weights_once(X):
    from test_fitted_state import _tensors_outside_the_nets_mapping

    # Factories pickle by reference: the trained weights are the only
    # tensors, inside the net's device-mapped state.
    factories = own(encoder=functools.partial(Encoder, width=8), decoder=Decoder,
                    learning_rate_schedule="cosine").fit(X)
    payload = pickle.dumps(factories)
    assert _tensors_outside_the_nets_mapping(payload) == 0
    loaded = pickle.loads(payload)
    assert_array_equal(loaded.transform(X), factories.transform(X))
    # Instances are parameters: they travel as the user passed them, their
    # tensors and no more beside the trained ones.
    est = own(learning_rate_schedule="cosine").fit(X)
    given = len(est.encoder.state_dict()) + len(est.decoder.state_dict())
    payload = pickle.dumps(est)
    assert _tensors_outside_the_nets_mapping(payload) == given
    loaded = pickle.loads(payload)
    assert_array_equal(loaded.transform(X), est.transform(X))
    assert_array_equal(weights(loaded.encoder), weights(est.encoder))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_a_cuda_trained_model_loads_where_there_is_no_cuda(X, tmp_path):
    est = own(device="cuda").fit(X)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", est.transform(X))
    child = textwrap.dedent(
        f"""
        import pickle
        import numpy as np, torch
        assert not torch.cuda.is_available()
        est = pickle.loads(open({str(tmp_path / "model.pkl")!r}, "rb").read())
        assert next(est.module_.parameters()).device.type == "cpu"
        np.testing.assert_allclose(est.transform(np.load({str(tmp_path / "X.npy")!r})),
                                   np.load({str(tmp_path / "expected.npy")!r}),
                                   rtol=1e-4, atol=1e-5)
        print("LOADED ON CPU")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=120,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "",
             "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])},
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED ON CPU" in result.stdout


# -------------------------------------------------------- dtypes, streaming
def test_float64_in_float64_out_and_float32_in_float32_out(X):
    est = own().fit(X)
    assert est.transform(X).dtype == np.float64
    assert est.inverse_transform(est.transform(X)).dtype == np.float64
    X32 = X.astype(np.float32)
    assert est.transform(X32).dtype == np.float32
    assert_allclose(est.transform(X), est.transform(X32), atol=1e-4)


def test_partial_fit_and_warm_start_continue_the_users_network(X):
    est = own()
    scores = []
    for block in np.array_split(X, 4):
        est.partial_fit(block)
        scores.append(est.score(X))
        # float64 inference follows every update.
        assert_allclose(est.transform(X), est.transform(X.astype(np.float32)), atol=1e-4)
    assert est.n_iter_ == 4 and len(set(scores)) == 4
    module = est.module_
    est.set_params(warm_start=True).fit(X)
    assert est.module_ is module and est.n_iter_ == 4 + QUICK["max_epochs"]


@pytest.mark.parametrize("name", ["encoder", "decoder"])
def test_a_changed_network_under_warm_start_raises(name, X):
    est = own(warm_start=True).fit(X)
    # Another object, even an equal one, is another architecture.
    est.set_params(**{name: Encoder(N_FEATURES, N_COMPONENTS) if name == "encoder"
                      else Decoder(N_FEATURES, N_COMPONENTS)})
    with pytest.raises(ValueError, match=name):
        est.fit(X)
    with pytest.raises(ValueError, match=name):
        est.partial_fit(X)


def test_memmap_and_sparse_rows_train_as_the_dense_array_does(X, tmp_path):
    expected = own().fit(X).transform(X)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert_allclose(own().fit(mapped).transform(mapped), expected, atol=1e-6)
    rows = sparse.csr_matrix(X)
    assert_allclose(own().fit(rows).transform(rows), expected, atol=1e-6)


def test_dask_incremental_trains_a_users_network(X):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X32 = X.astype(np.float32)
    incremental = wrappers.Incremental(own(), shuffle_blocks=False).fit(
        da.from_array(X32, chunks=(200, N_FEATURES)))
    expected = own()
    for block in np.split(X32, 3):
        expected.partial_fit(block)
    assert incremental.estimator_.n_iter_ == 3
    assert_allclose(incremental.estimator_.transform(X32), expected.transform(X32),
                    rtol=1e-5, atol=1e-6)


WORKER = textwrap.dedent(
    """
    import sys, warnings
    from pathlib import Path
    import numpy as np
    from sklearn.datasets import load_digits
    from skae import Autoencoder, data_parallel
    from test_own_network import Decoder, Encoder

    out = Path(sys.argv[1])
    X = (load_digits().data[:600] / 16).astype(np.float32)
    warnings.simplefilter("ignore")
    with data_parallel() as accelerator:
        ae = Autoencoder(4, encoder=Encoder(64, 4), decoder=Decoder(64, 4), max_epochs=3,
                         batch_size=64, n_iter_no_change=100, random_state=0,
                         device="cpu").fit(X)
    rank = accelerator.process_index
    np.save(out / f"weights{rank}.npy",
            np.concatenate([p.detach().numpy().ravel() for p in ae.module_.parameters()]))
    np.save(out / f"curve{rank}.npy", np.asarray(ae.loss_curve_))
    """
)


def test_data_parallel_trains_a_users_network_in_two_processes(tmp_path):
    pytest.importorskip("accelerate")
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available")
    from test_distributed import _free_port

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        # The workers import the networks from this file.
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    ranks = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path)],
                         env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in range(2)
    ]
    logs = []
    try:
        logs = [process.communicate(timeout=300)[0] for process in ranks]
    finally:
        for process in ranks:
            process.kill()
    assert all(p.returncode == 0 for p in ranks), "\n".join(log[-3000:] for log in logs)
    # Gradients averaged after every step: one model in both processes.
    assert_array_equal(np.load(tmp_path / "weights0.npy"), np.load(tmp_path / "weights1.npy"))
    curve = np.load(tmp_path / "curve0.npy")
    assert len(curve) == 3 and curve[-1] < curve[0]


# ------------------------------------------------------------- the wrappers
def test_classifier_and_outlier_detector_wrap_a_users_network(X):
    from sklearn.datasets import load_digits

    y = load_digits().target[:600]
    classifier = AutoencoderClassifier(own(), max_epochs=20, random_state=0).fit(X, y)
    assert isinstance(classifier.autoencoder_.module_.encoder, Encoder)
    assert classifier.score(X, y) > 0.5
    detector = AutoencoderOutlierDetector(own(), random_state=0).fit(X)
    assert isinstance(detector.autoencoder_.module_.encoder, Encoder)
    assert detector.predict(X).shape == (len(X),)
    # Rows unlike the digits score as outliers.
    far = np.random.RandomState(0).uniform(0, 1, size=(20, N_FEATURES))
    assert np.median(detector.score_samples(far)) < np.median(detector.score_samples(X))


# ------------------------------------------------------ scikit-learn checks
@parametrize_with_checks([
    Autoencoder(encoder=functools.partial(Encoder, width=8),
                decoder=functools.partial(Decoder, width=8), max_epochs=3, device="cpu",
                random_state=0),
])
def test_sklearn_checks_with_a_users_network(estimator, check):
    check(estimator)


def test_grid_search_chooses_between_two_networks(X):
    networks = [functools.partial(Encoder, width=4), functools.partial(Encoder, width=32)]
    search = GridSearchCV(own(max_epochs=20, decoder=None, hidden_layer_sizes=(32,)),
                          {"encoder": networks}, cv=2).fit(X)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_params_["encoder"] in networks
    assert isinstance(search.best_estimator_.module_.encoder, Encoder)
    assert search.best_estimator_.encoder.keywords == search.best_params_["encoder"].keywords


# --------------------------------------------------------------------- ONNX
def test_a_pipeline_with_a_users_network_converts_to_onnx(X):
    onnxruntime = pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("skae.onnx")

    pipeline = make_pipeline(StandardScaler(), own()).fit(X[:400])
    held_out = X[400:].astype(np.float32)
    onx = skl2onnx.to_onnx(pipeline, held_out[:1])
    session = onnxruntime.InferenceSession(onx.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    (codes,) = session.run(None, {session.get_inputs()[0].name: held_out})
    assert_allclose(codes, pipeline.transform(held_out), atol=1e-5)


def test_a_network_onnx_cannot_export_is_named(X):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("skae.onnx")

    est = own(encoder=LeavesTorch(N_FEATURES, N_COMPONENTS)).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotImplementedError, match="LeavesTorch"):
            skl2onnx.to_onnx(est, X[:1].astype(np.float32))
