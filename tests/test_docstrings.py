"""The API documentation matches the code.

Every public estimator documents exactly the parameters ``get_params``
returns (with the signature's defaults) and the attributes a fit sets;
entries shared between estimators read the same everywhere; every public
class points to its guide page; every public object is on the API page and
passes the numpydoc checks the docs build runs. So a missing or inconsistent
entry fails the test suite, not only the docs build.
"""

import ast
import importlib.util
import inspect
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from numpydoc.docscrape import NumpyDocString
from numpydoc.validate import get_validation_checks, validate
from sklearn.base import BaseEstimator
from sklearn.utils._testing import assert_docstring_consistency

import skae
import skae.plotting

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide"

ESTIMATORS = [
    cls
    for name in skae.__all__
    if isinstance(cls := getattr(skae, name), type) and issubclass(cls, BaseEstimator)
]

# Entries that share a name but not a meaning.
DISTINCT_ENTRIES = {
    # The detector trains nothing itself: its seed only reaches the autoencoder.
    ("AutoencoderOutlierDetector", "random_state"),
    # The pretrained autoencoder of one, the scoring autoencoder of the other.
    ("AutoencoderOutlierDetector", "autoencoder_"),
    # A t-SNE map has no coding layer and no decoder: its size and its
    # network's layers mean something else.
    ("ParametricTSNE", "n_components"),
    ("ParametricTSNE", "hidden_layer_sizes"),
    # A UMAP map's too, and its epochs, batches, schedule and seed are of
    # sampled edges, with no validation split, partial_fit or output
    # activation; its projection feeds the network, not the graph.
    ("ParametricUMAP", "n_components"),
    ("ParametricUMAP", "hidden_layer_sizes"),
    ("ParametricUMAP", "decoder"),
    ("ParametricUMAP", "batch_size"),
    ("ParametricUMAP", "max_epochs"),
    ("ParametricUMAP", "learning_rate_schedule"),
    ("ParametricUMAP", "random_state"),
    ("ParametricUMAP", "tol"),
    ("ParametricUMAP", "verbose"),
    ("ParametricUMAP", "pca_components"),
}

# Settings for a fit that is quick and sets every optional attribute:
# validation scores (early stopping) and the layer-wise stages (pretrain).
QUICK = {
    "max_epochs": 2,
    "early_stopping": True,
    "pretrain": "layerwise",
    "hidden_layer_sizes": (8,),
    "channels": (4,),
    "hidden_size": 4,
    "device": "cpu",
    "random_state": 0,
}


def _doc(obj):
    return NumpyDocString(inspect.getdoc(obj))


def _entries(obj, section):
    """{name: (type, description with its whitespace normalised)} of a section."""
    return {
        name: (type_, " ".join(" ".join(desc).split()))
        for name, type_, desc in _doc(obj)[section]
    }


def _shared_names(names_of):
    holders = defaultdict(list)
    for cls in ESTIMATORS:
        for name in names_of(cls):
            holders[name].append(cls)
    return sorted(name for name, classes in holders.items() if len(classes) > 1), holders


def _param_names(cls):
    return list(cls().get_params(deep=False))


def _attr_names(cls):
    return list(_entries(cls, "Attributes"))


SHARED_PARAMS, PARAM_HOLDERS = _shared_names(_param_names)
SHARED_ATTRS, ATTR_HOLDERS = _shared_names(_attr_names)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_parameters_documented_in_order(cls):
    """Exactly the parameters of ``get_params``, in the signature's order."""
    documented = [name for name, _, _ in _doc(cls)["Parameters"]]
    assert documented == list(inspect.signature(cls).parameters)
    assert set(documented) == set(_param_names(cls))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_parameter_defaults_match_the_signature(cls):
    """Each type ends with ``default=<the signature's default>``."""
    for name, param in inspect.signature(cls).parameters.items():
        type_, _ = _entries(cls, "Parameters")[name]
        documented = re.search(r"default=(.+)$", type_)
        assert documented, f"{cls.__name__}.{name}: no default in {type_!r}"
        assert ast.literal_eval(documented.group(1)) == param.default, (
            f"{cls.__name__}.{name}: documented default={documented.group(1)}, "
            f"signature default={param.default!r}"
        )


def _shared_wording(descriptions):
    """The whole sentences every description of an entry opens with."""
    common = os.path.commonprefix(descriptions)
    if common in descriptions:
        return common
    return common[: common.rfind(". ") + 1]


def _group_check(name, section, holders):
    """An entry shared by several classes reads the same in each.

    A class may add to the shared wording, in sentences after it, what is
    particular to it (a different default, what None means there).
    """
    classes = [c for c in holders[name] if (c.__name__, name) not in DISTINCT_ENTRIES]
    shared = _shared_wording([_entries(c, section)[name][1] for c in classes])
    assert shared, f"{name}: the descriptions share no opening sentence"
    kind = {"Parameters": "include_params", "Attributes": "include_attrs"}[section]
    opens_with_shared = "^" + re.escape(shared) + r"(\s|$)"
    # Types hold the default, which may differ between classes (checked
    # against the signatures above); classes with equal types are compared.
    assert_docstring_consistency(
        classes, **{kind: [name]}, descr_regex_pattern=opens_with_shared,
        ignore_types=(name,),
    )
    by_type = defaultdict(list)
    for cls in classes:
        by_type[_entries(cls, section)[name][0]].append(cls)
    for group in by_type.values():
        assert_docstring_consistency(
            group, **{kind: [name]}, descr_regex_pattern=opens_with_shared
        )


@pytest.mark.parametrize("name", SHARED_PARAMS)
def test_shared_parameters_read_the_same(name):
    _group_check(name, "Parameters", PARAM_HOLDERS)


@pytest.mark.parametrize("name", SHARED_ATTRS)
def test_shared_attributes_read_the_same(name):
    _group_check(name, "Attributes", ATTR_HOLDERS)


def test_listed_departures_name_real_entries():
    """Every departure from the shared wording names a class and an entry that exist."""
    for cls_name, name in DISTINCT_ENTRIES:
        cls = getattr(skae, cls_name)
        assert name in _param_names(cls) or name in _attr_names(cls), (cls_name, name)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_property_attributes_match_their_docstrings(cls):
    """numpydoc shows a property's own summary for it: the two must agree."""
    for name, (_, description) in _entries(cls, "Attributes").items():
        prop = inspect.getattr_static(cls, name, None)
        if isinstance(prop, property):
            summary = " ".join(inspect.getdoc(prop).split("\n\n")[0].split())
            assert description == summary, f"{cls.__name__}.{name}"


def _quick(cls):
    params = cls().get_params(deep=False)
    settings = {k: v for k, v in QUICK.items() if k in params}
    if "autoencoder" in params:
        settings["autoencoder"] = skae.Autoencoder(
            4, hidden_layer_sizes=(8,), max_epochs=2, device="cpu"
        )
    return cls(**settings)


def _public_fitted_attributes(estimator):
    return {
        name
        for name in dir(estimator)
        if name.endswith("_") and not name.startswith("_") and hasattr(estimator, name)
    }


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_attributes_are_those_fit_sets(cls):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    # Named columns, so that feature_names_in_ is set too; 64 columns read
    # as 8x8 images or 64-step sequences.
    X = pd.DataFrame(rng.uniform(size=(60, 64)), columns=[f"x{i}" for i in range(64)])
    y = np.where(np.arange(60) % 3 == 0, -1, np.arange(60) % 2)
    estimator = _quick(cls)
    assert not _public_fitted_attributes(estimator)
    estimator.fit(X, y)
    assert _public_fitted_attributes(estimator) == set(_attr_names(cls))


def _documented_objects():
    """The public classes: estimators, errors and warnings."""
    return [obj for name in skae.__all__ if isinstance(obj := getattr(skae, name), type)]


@pytest.mark.parametrize("obj", _documented_objects(), ids=lambda c: c.__name__)
def test_points_to_its_guide_page(obj):
    doc = inspect.getdoc(obj)
    found = re.search(r"Read more in the :ref:`User Guide <([\w-]+)>`\.", doc)
    assert found, f"{obj.__name__} has no 'Read more in the User Guide' line"
    if not GUIDE.is_dir():
        pytest.skip("the documentation sources are not present")
    labels = {
        match
        for page in GUIDE.glob("*.rst")
        for match in re.findall(r"^\.\. _([\w-]+):$", page.read_text(), flags=re.M)
    }
    assert found.group(1) in labels


def _public_functions(module):
    return [
        function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name in getattr(module, "__all__", [name]) and not name.startswith("_")
        and function.__module__ == module.__name__
    ]


def _public_objects():
    """Everything the API reference documents, by dotted name."""
    objects = {f"skae.{name}": getattr(skae, name) for name in skae.__all__}
    for module in (skae.plotting, *_optional_modules()):
        objects.update(
            {f"{module.__name__}.{f.__name__}": f for f in _public_functions(module)}
        )
    return objects


def _optional_modules():
    try:
        import skae.onnx
    except ImportError:  # the onnx extra is not installed
        return []
    return [skae.onnx]


def test_api_page_lists_every_public_object():
    page = GUIDE.parent / "api_page.py"
    if not page.is_file():
        pytest.skip("the documentation sources are not present")
    spec = importlib.util.spec_from_file_location("api_page", page)
    api_page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api_page)
    listed = set(re.findall(r"^   (\w+)$", api_page.text(), flags=re.M))
    public = {name.rsplit(".", 1)[1] for name in _public_objects()}
    assert public <= listed, f"not on the API page: {sorted(public - listed)}"


def _validation_checks():
    """The numpydoc checks the docs build runs (docs/conf.py), as a set of codes."""
    conf = GUIDE.parent / "conf.py"
    if not conf.is_file():
        pytest.skip("the documentation sources are not present")
    tree = ast.parse(conf.read_text())
    for node in tree.body:
        targets = [getattr(target, "id", None) for target in getattr(node, "targets", [])]
        if "numpydoc_validation_checks" in targets:
            return get_validation_checks(ast.literal_eval(node.value))
    pytest.fail("docs/conf.py sets no numpydoc_validation_checks")


def _validated_names():
    names = []
    for name, obj in _public_objects().items():
        if isinstance(obj, type) and issubclass(obj, Exception):
            name = f"skae.exceptions.{obj.__name__}"
        names.append(name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
            # Every public method the API page lists, inherited ones too.
            names += [
                f"{name}.{method}"
                for method in dir(obj)
                if not method.startswith("_")
                and not (method.startswith("set_") and method.endswith("_request"))
                and inspect.isroutine(getattr(obj, method))
            ]
    return names


@pytest.mark.parametrize("name", _validated_names())
def test_numpydoc_validation(name):
    """The checks of the docs build, here too, so that the test suite fails on them."""
    checks = _validation_checks()
    errors = [f"{code}: {message}" for code, message in validate(name)["errors"]
              if code in checks]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    "obj", list(_public_objects().values()), ids=lambda obj: obj.__name__
)
def test_no_placeholder_or_free_text_entries(obj):
    """Entry names are identifiers: no '**other parameters', no sentence as a name."""
    doc = _doc(obj)
    for section in ("Parameters", "Attributes", "Returns"):
        for name, _, _ in doc[section]:
            assert re.fullmatch(r"\*{0,2}[A-Za-z_]\w*", name), (obj.__name__, section, name)
