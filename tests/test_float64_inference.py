"""Float64 inference: a twin of the model kept while the weights are unchanged, never stale.

Each way the weights can change is followed by a float64 transform, which
must equal a float64 forward pass of the current weights computed here by
hand; a pass whose module runs a float64 pass of its own returns.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from skae import Autoencoder
from skae.extend import apply_module


@pytest.fixture
def X():
    return np.random.RandomState(0).uniform(size=(40, 8))


@pytest.fixture
def model(X):
    return Autoencoder(n_components=3, hidden_layer_sizes=(6,), max_epochs=2, device="cpu",
                       random_state=0).fit(X)


def reference_codes(model, X):
    """The codes of the module's current weights, by a float64 copy made here."""
    import copy

    module = copy.deepcopy(model.module_).double().eval()
    with torch.no_grad():
        return module.encode(torch.from_numpy(X)).numpy()


def first_weight(model):
    return next(model.module_.parameters())


def _in_place_update(model, X):
    with torch.no_grad():
        first_weight(model).add_(0.5)


def _assign_data(model, X):
    first_weight(model).data = first_weight(model).data * 2


def _replace_parameter(model, X):
    for module in model.module_.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight = torch.nn.Parameter(module.weight.detach() + 1.0)
            return


def _load_state_dict(model, X):
    model.module_.load_state_dict({k: v * 0.5 for k, v in model.module_.state_dict().items()})


CHANGES = {
    "partial_fit": lambda model, X: model.partial_fit(X),
    "warm start": lambda model, X: model.set_params(warm_start=True, max_epochs=1).fit(X),
    "refit": lambda model, X: model.set_params(random_state=1).fit(X),
    "in-place update": _in_place_update,
    ".data assignment": _assign_data,
    "replaced parameter": _replace_parameter,
    "load_state_dict": _load_state_dict,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_float64_transform_sees_the_current_weights(change, model, X):
    assert np.allclose(model.transform(X), reference_codes(model, X), atol=1e-12)
    CHANGES[change](model, X)
    assert np.allclose(model.transform(X), reference_codes(model, X), atol=1e-12)


def test_a_restored_failure_is_seen(model, X):
    model.transform(X)
    before = reference_codes(model, X)
    with pytest.raises(ValueError):
        model.partial_fit(np.full_like(X[:, :5], 1.0))  # the wrong width: nothing trains
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        model.partial_fit(bad)
    assert np.allclose(model.transform(X), before, atol=1e-12)


def test_unchanged_weights_reuse_the_twin(model, X):
    from skae._engine._inference import _FLOAT64

    model.transform(X[:1])
    first = _FLOAT64.twin(model.module_)
    model.transform(X[:1])
    assert _FLOAT64.twin(model.module_) is first
    model.partial_fit(X)
    assert _FLOAT64.twin(model.module_) is not first


class _Nested(torch.nn.Module):
    """A module whose forward runs another float64 pass over its rows."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.linear = torch.nn.Linear(8, 3)

    def forward(self, rows):
        inner = apply_module(lambda module, r: module.encode(r), rows.numpy(), self.inner)
        return self.linear(rows) + torch.from_numpy(inner).to(rows.dtype)


def test_nested_float64_passes_return(model, X):
    """A float64 pass inside another one's forward (of the same twin table) does not hang."""
    script = textwrap.dedent("""
        import numpy as np, torch
        from skae import Autoencoder
        from skae.extend import apply_module
        import sys
        sys.path.insert(0, "tests")
        from test_float64_inference import _Nested
        X = np.random.RandomState(0).uniform(size=(20, 8))
        inner = Autoencoder(n_components=3, hidden_layer_sizes=(6,), max_epochs=1,
                            device="cpu").fit(X).module_
        outer = _Nested(inner)
        out = apply_module(lambda module, rows: module(rows), X, outer)
        again = apply_module(lambda module, rows: module(rows), X, _Nested(outer.inner))
        print(out.dtype, out.shape)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["float64", "(20,", "3)"]
