"""dask: Incremental and ParallelPostFit from dask-ml, GridSearchCV on a dask cluster."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skae import Autoencoder

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")
joblib = pytest.importorskip("joblib")

QUICK = dict(n_components=4, hidden_layer_sizes=(16,), batch_size=32, max_epochs=4,
             random_state=0, device="cpu")


@pytest.fixture(scope="module")
def client():
    """A cluster of two worker processes on the loopback interface."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def _key_name(key):
    return key[0] if isinstance(key, tuple) else key


@pytest.fixture(scope="module")
def X():
    return (load_digits().data[:600] / 16).astype(np.float32)


def test_incremental_calls_partial_fit_per_block_on_the_workers(client, X):
    dX = da.from_array(X, chunks=(200, X.shape[1]))
    with distributed.get_task_stream(client) as tasks:
        incremental = wrappers.Incremental(Autoencoder(**QUICK), shuffle_blocks=False).fit(dX)
    workers = set(client.scheduler_info()["workers"])
    fit_tasks = [task for task in tasks.data if _key_name(task["key"]).startswith("fit-")]
    assert fit_tasks and {task["worker"] for task in fit_tasks} <= workers

    # One partial_fit (one epoch) per block, in block order: the model a
    # loop over the blocks in this process trains.
    fitted = incremental.estimator_
    assert fitted.n_iter_ == dX.numblocks[0] == 3
    expected = clone(Autoencoder(**QUICK))
    for block in np.split(X, 3):
        expected.partial_fit(block)
    assert_allclose(fitted.transform(X), expected.transform(X), rtol=1e-5, atol=1e-6)
    assert fitted.loss_curve_ == pytest.approx(expected.loss_curve_, rel=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_of_a_dask_array(client, X, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae = Autoencoder(**QUICK).fit(X)
    Xd = X.astype(dtype)
    dX = da.from_array(Xd, chunks=(250, X.shape[1]))
    expected = ae.transform(Xd)

    # ParallelPostFit maps transform over the blocks: a lazy dask array in
    # the input's dtype whose blocks are the codes.
    lazy = wrappers.ParallelPostFit(ae).transform(dX)
    assert isinstance(lazy, da.Array)
    assert lazy.dtype == dtype and lazy._meta.dtype == dtype
    assert isinstance(lazy._meta, np.ndarray)
    codes = lazy.compute()
    assert codes.shape == (len(X), QUICK["n_components"]) and codes.dtype == dtype
    assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)

    # dask.array.map_blocks with the output's chunks also declares the
    # codes' shape before anything is computed.
    mapped = dX.map_blocks(
        ae.transform, chunks=(dX.chunks[0], (ae.n_components_,)), dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
    )
    assert mapped.shape == (len(X), QUICK["n_components"])
    assert mapped.dtype == dtype and isinstance(mapped._meta, np.ndarray)
    assert_allclose(mapped.compute(), expected, rtol=1e-5, atol=1e-6)


def test_grid_search_on_the_cluster_matches_one_job(client, X):
    grid = {"n_components": [2, 6], "learning_rate": [1e-3, 1e-2]}

    def search(n_jobs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GridSearchCV(Autoencoder(**QUICK), grid, cv=3, n_jobs=n_jobs).fit(X)

    serial = search(n_jobs=1)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        on_cluster = search(n_jobs=-1)
    # The cross-validation fits ran on the cluster's workers (joblib batches
    # them, so there may be fewer tasks than fits).
    workers = {task["worker"] for task in tasks.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    assert on_cluster.best_params_ == serial.best_params_
    assert_allclose(on_cluster.cv_results_["mean_test_score"],
                    serial.cv_results_["mean_test_score"], rtol=1e-6)
    assert_allclose(on_cluster.cv_results_["split0_test_score"],
                    serial.cv_results_["split0_test_score"], rtol=1e-6)
    assert on_cluster.best_score_ == pytest.approx(serial.best_score_, rel=1e-6)
