"""ONNX export through skl2onnx: converters for every skae estimator.

Importing this module registers the converters with
:func:`skl2onnx.update_registered_converter`, after which
:func:`skl2onnx.to_onnx` converts skae estimators, and pipelines that
contain them, like any scikit-learn model. It needs the ``onnx`` extra
(``pip install "skae[onnx]"``: skl2onnx and onnxruntime).

Every converter writes the fitted torch module's own definition: the
module's ``encode`` (``transform``) or ``decode`` (``inverse_transform``,
with the converter option ``{"method": "inverse_transform"}``) is exported
by :func:`torch.onnx.export` and its graph embedded in the skl2onnx graph,
so that an option of the module (``whiten``, a new layer) is exported as
the module computes it, never re-derived. Converted: every autoencoder
family (a :class:`~skae.VariationalAutoencoder`'s ``transform`` gives the
mean coding, as skae does), :class:`~skae.AutoencoderOutlierDetector` over
any of them (``label`` and ``scores`` outputs, as skl2onnx gives
IsolationForest's), :class:`~skae.ParametricTSNE` (``transform``: the map of
new rows) and :class:`~skae.AutoencoderClassifier` (``label`` and
``probabilities``). Converters are registered for every estimator class,
found by what it computes: skae's own, a user's subclass of one, and a
family written on :mod:`skae.extend`, defined before or after this import.

Graphs compute in the input's float type where onnxruntime's CPU kernels
have that type (``elu`` and ``selu`` layers are written as primitive
operators in float64 graphs, which have such kernels); onnxruntime has no
float64 kernel for convolutions, pooling and recurrent cells, so a float64
graph of a module that uses them casts to float32 around the module's graph
(its results then agree with ``transform`` to float32's rounding).

Examples
--------
>>> import numpy as np
>>> import onnxruntime
>>> import skae.onnx  # registers the converters
>>> from skl2onnx import to_onnx
>>> from skae import Autoencoder
>>> X = np.random.RandomState(0).rand(100, 6).astype(np.float32)
>>> ae = Autoencoder(2, hidden_layer_sizes=(4,), max_epochs=2, random_state=0).fit(X)
>>> onx = to_onnx(ae, X[:1])
>>> session = onnxruntime.InferenceSession(onx.SerializeToString(),
...                                        providers=["CPUExecutionProvider"])
>>> codes = session.run(None, {"X": X})[0]
>>> codes.shape, bool(np.allclose(codes, ae.transform(X), atol=1e-5))
((100, 2), True)
"""

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        guess_numpy_type,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ONNX export needs skl2onnx and onnxruntime: install them with "
        "pip install \"skae[onnx]\"."
    ) from exc

import copy
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._registry import on_estimator_class
from .extend import BaseAutoencoder, TorchEstimatorMixin

__all__ = ["export_module", "register_converters"]

_METHODS = ["transform", "inverse_transform"]

# The ONNX operators for which onnxruntime's CPU provider has no float64
# kernel (measured with onnxruntime 1.32): a float64 graph that would use
# one runs the module in float32 between two casts instead. ELU and SELU
# layers are exported as primitive operators in float64 graphs instead.
_FLOAT32_ONLY_OPERATORS = frozenset({
    "Elu", "Selu", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LSTM", "GRU", "RNN",
    "Upsample", "Resize",
})

# A recurrent cell's sequence lengths: omitted, they mean "every sequence
# is whole", which an empty tensor does not say to onnxruntime.
_INTEGER_INPUTS = {(cell, 4): onnx.TensorProto.INT32 for cell in ("RNN", "GRU", "LSTM")}

# The opset the modules are exported in when the target allows it: torch's
# TorchScript exporter writes up to this one.
_MODULE_OPSET = 18


_TORCH_PACKAGE = Path(torch.__file__).resolve().parent


class _Computation(nn.Module):
    """``fn(module, x)`` as a forward pass, for torch.onnx."""

    def __init__(self, module, fn):
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, x):
        return self.fn(self.module, x)


def _encode(module, x):
    return module.encode(x)


def _decode(module, z):
    return module.decode(z)


def _torch_graph(module, fn, width, dtype, opset):
    """The ONNX graph of ``fn(module, x)`` on (n, width) rows of ``dtype``.

    Raises NotImplementedError naming the module (and the user's networks
    it holds) when torch.onnx cannot export it faithfully.
    """
    try:
        return _traced_graph(module, fn, width, dtype, opset)
    except Exception as error:
        raise NotImplementedError(
            f"torch.onnx could not export {_module_name(module)}: {error}"
        ) from error


class _ElementwiseELU(nn.Module):
    """ELU and SELU as primitive operators, which onnxruntime runs in float64."""

    def __init__(self, alpha, scale=1.0):
        super().__init__()
        self.alpha = alpha
        self.scale = scale

    def forward(self, x):
        return self.scale * torch.where(x > 0, x, self.alpha * (torch.exp(x) - 1))


# SELU's constants, as torch defines them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _with_float64_activations(module):
    """``module`` with its ELU and SELU layers written as operators that have float64 kernels."""
    for name, child in list(module.named_children()):
        if type(child) is nn.ELU:
            setattr(module, name, _ElementwiseELU(child.alpha))
        elif type(child) is nn.SELU:
            setattr(module, name, _ElementwiseELU(_SELU_ALPHA, _SELU_SCALE))
        else:
            _with_float64_activations(child)
    return module


def _traced_graph(module, fn, width, dtype, opset):
    module = copy.deepcopy(module).to(device="cpu", dtype=dtype).eval()
    if dtype == torch.float64:
        module = _with_float64_activations(module)
    example = torch.zeros((2, width), dtype=dtype)
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        # torch.onnx's notes on its exporters are no news to the caller.
        warnings.simplefilter("always")
        with torch.no_grad():
            torch.onnx.export(
                _Computation(module, fn).eval(), (example,), buffer,
                input_names=["X"], output_names=["Y"],
                dynamic_axes={"X": {0: "n_samples"}, "Y": {0: "n_samples"}},
                opset_version=opset, dynamo=False,
            )
    # The tracer warns where a value left torch or a tensor became a Python
    # number: the graph may then compute something else than the module.
    # torch's own layers warn of checks that are harmless (the recurrent
    # layers' input checks); a warning from any other code is not.
    untraceable = [
        w for w in caught
        if issubclass(w.category, torch.jit.TracerWarning)
        and not Path(w.filename).resolve().is_relative_to(_TORCH_PACKAGE)
    ]
    if untraceable:
        first = untraceable[0]
        raise ValueError(
            f"the trace may not compute what the module does ({first.filename}, line "
            f"{first.lineno}: {str(first.message).split('.')[0]})"
        )
    graph = onnx.load_model_from_string(buffer.getvalue()).graph
    if not graph.input:
        # The trace saw no tensor operation reach the output from X: the
        # forward pass left torch (through numpy, say), and the graph would
        # return one constant for every row.
        raise ValueError("its output does not depend on the input in the traced graph")
    return graph


def _embed(scope, container, graph, input_name, output_name):
    """Copy ``graph``'s nodes and initialisers into the container, renamed apart."""
    renamed = {graph.input[0].name: input_name, graph.output[0].name: output_name}
    element_type = graph.input[0].type.tensor_type.elem_type

    def name(original, op_type=None, position=None, node=None):
        if not original and (op_type, position) in _INTEGER_INPUTS:
            return _full_sequence_lengths(scope, container, name(node.input[0]), node)
        if not original:
            # An omitted optional input (Resize's roi and scales before its
            # sizes): skl2onnx cannot order a graph with unnamed inputs, and
            # ONNX reads an empty tensor as the same omission.
            omitted = scope.get_unique_variable_name("skae_omitted")
            container.add_initializer(
                omitted, _INTEGER_INPUTS.get((op_type, position), element_type), [0], []
            )
            return omitted
        if original not in renamed:
            renamed[original] = scope.get_unique_variable_name(f"skae_{original}")
        return renamed[original]

    for initializer in graph.initializer:
        values = numpy_helper.to_array(initializer)
        container.add_initializer(name(initializer.name), initializer.data_type,
                                  list(values.shape), values.flatten())
    for node in graph.node:
        if any(attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for attribute in node.attribute):
            raise NotImplementedError(
                f"the exported module uses {node.op_type} with a subgraph, which skae's "
                "ONNX converters do not embed."
            )
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        inputs = list(node.input)
        while inputs and not inputs[-1]:
            inputs.pop()  # trailing omissions need no name
        container.add_node(
            node.op_type, [name(i, node.op_type, k, node) for k, i in enumerate(inputs)],
            [name(o) for o in node.output],
            op_domain=node.domain, name=scope.get_unique_operator_name(f"skae_{node.op_type}"),
            op_version=container.target_opset if not node.domain else None, **attributes,
        )


def _full_sequence_lengths(scope, container, sequences, node):
    """Every sequence's length, for a recurrent ``node`` reading ``sequences``."""
    layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
    shape = scope.get_unique_variable_name("skae_shape")
    container.add_node("Shape", [sequences], [shape],
                       name=scope.get_unique_operator_name("skae_Shape"))
    # layout 0: (time, batch, features); layout 1: (batch, time, features).
    axes = {"time": 1 if layout else 0, "batch": 0 if layout else 1}
    picked = {}
    for axis, position in axes.items():
        index = scope.get_unique_variable_name(f"skae_{axis}_axis")
        container.add_initializer(index, onnx.TensorProto.INT64, [1], [position])
        picked[axis] = scope.get_unique_variable_name(f"skae_{axis}")
        container.add_node("Gather", [shape, index], [picked[axis]], axis=0,
                           name=scope.get_unique_operator_name("skae_Gather"))
    lengths = scope.get_unique_variable_name("skae_lengths")
    container.add_node("Expand", [picked["time"], picked["batch"]], [lengths],
                       name=scope.get_unique_operator_name("skae_Expand"))
    as_int32 = scope.get_unique_variable_name("skae_sequence_lens")
    container.add_node("Cast", [lengths], [as_int32], to=onnx.TensorProto.INT32,
                       name=scope.get_unique_operator_name("skae_Cast"))
    return as_int32


def _add_module(scope, container, module, fn, width, input_name, output_name, dtype):
    """Add ``fn(module, x)`` for input ``input_name`` of numpy ``dtype`` to the graph."""
    opset = min(container.target_opset, _MODULE_OPSET)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    graph = _torch_graph(module, fn, width, torch_dtype, opset)
    if dtype != np.float64 or not _FLOAT32_ONLY_OPERATORS & {n.op_type for n in graph.node}:
        _embed(scope, container, graph, input_name, output_name)
        return
    graph = _torch_graph(module, fn, width, torch.float32, opset)
    cast_in = scope.get_unique_variable_name("skae_float32_input")
    cast_out = scope.get_unique_variable_name("skae_float32_output")
    container.add_node("Cast", [input_name], [cast_in], to=onnx.TensorProto.FLOAT,
                       name=scope.get_unique_operator_name("skae_Cast"))
    _embed(scope, container, graph, cast_in, cast_out)
    container.add_node("Cast", [cast_out], [output_name], to=onnx.TensorProto.DOUBLE,
                       name=scope.get_unique_operator_name("skae_Cast"))


def _module_name(module):
    """The module's class, and the classes of the user's networks it holds."""
    networks = [
        f"{name}={type(part).__name__}"
        for name in ("encoder", "decoder", "network")
        if isinstance(part := getattr(module, name, None), nn.Module)
    ]
    return type(module).__name__ + (f" (holding {', '.join(networks)})" if networks else "")


def _input_dtype(operator):
    return guess_numpy_type(operator.inputs[0].type)


def _set_output_width(operator, width, index=0):
    """An output of one row per input row, ``width`` columns, in the input's float type."""
    input_type = operator.inputs[0].type.__class__
    operator.outputs[index].type = input_type([operator.inputs[0].get_first_dimension(), width])


def _method(options_source, estimator):
    return options_source.get_options(estimator, dict(method="transform"))["method"]


# ------------------------------------------------------------ autoencoders
def _autoencoder_shape(operator):
    estimator = operator.raw_operator
    method = _method(operator.scope_inst, estimator)
    width = estimator.n_features_in_ if method == "inverse_transform" else estimator.n_components_
    _set_output_width(operator, width)


def _check_method_not_overridden(estimator, method):
    """Refuse a user's class that redefines the method the graph stands for.

    The graph computes the module's own ``encode`` or ``decode``, which is
    what skae's ``transform`` and ``inverse_transform`` run; a subclass that
    computes something else in them would silently export the wrong thing.
    """
    skae_class = next(cls for cls in type(estimator).__mro__ if cls.__module__.startswith("skae."))
    if getattr(type(estimator), method) is not getattr(skae_class, method):
        raise NotImplementedError(
            f"{type(estimator).__name__} redefines {method}, which skae's ONNX converter "
            f"exports as the module's {'decode' if method == 'inverse_transform' else 'encode'}; "
            "export the module with skae.onnx.export_module if that is what it computes."
        )


def _convert_autoencoder(scope, operator, container):
    estimator = operator.raw_operator
    module = estimator.module_
    _check_method_not_overridden(estimator, _method(container, estimator))
    if _method(container, estimator) == "inverse_transform":
        fn, width = _decode, estimator.n_components_
    else:
        fn, width = _encode, estimator.n_features_in_
    _add_module(scope, container, module, fn, width, operator.inputs[0].full_name,
                operator.outputs[0].full_name, _input_dtype(operator))


def _convert_embedding(scope, operator, container):
    estimator = operator.raw_operator
    _check_method_not_overridden(estimator, _embedding_method(container, estimator))
    if _embedding_method(container, estimator) == "inverse_transform":
        fn, width = _decode, len(estimator.get_feature_names_out())
    else:
        fn, width = _encode, estimator.n_features_in_
    _add_module(scope, container, estimator.module_, fn, width,
                operator.inputs[0].full_name, operator.outputs[0].full_name,
                _input_dtype(operator))


def _embedding_shape(operator):
    estimator = operator.raw_operator
    if _embedding_method(operator.scope_inst, estimator) == "inverse_transform":
        _set_output_width(operator, estimator.n_features_in_)
    else:
        _set_output_width(operator, len(estimator.get_feature_names_out()))


def _embedding_method(options_source, estimator):
    """A map with a decoder converts either way; one without, its transform only."""
    if not hasattr(estimator, "inverse_transform"):
        return "transform"
    return _method(options_source, estimator)


# ---------------------------------------------------------------- detector
def _detector_shape(operator):
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = Int64TensorType([n_rows])
    _set_output_width(operator, 1, index=1)


class _SampleScores:
    """An autoencoder's per-row ``score_samples`` as a function of (module, rows)."""

    def __init__(self, autoencoder):
        self.autoencoder = autoencoder

    def __call__(self, module, x):
        return self.autoencoder._sample_scores(module, x).reshape(-1, 1)


def _convert_detector(scope, operator, container):
    detector = operator.raw_operator
    dtype = _input_dtype(operator)
    scores = scope.get_unique_variable_name("skae_scores")
    _detector_scores(scope, container, detector, operator.inputs[0].full_name, scores, dtype)
    offset = scope.get_unique_variable_name("skae_offset")
    container.add_initializer(offset, _onnx_type(dtype), [1], [float(detector.offset_)])
    decision = operator.outputs[1].full_name
    container.add_node("Sub", [scores, offset], [decision],
                       name=scope.get_unique_operator_name("skae_Sub"))
    zero = scope.get_unique_variable_name("skae_zero")
    container.add_initializer(zero, _onnx_type(dtype), [1], [0.0])
    outlier = scope.get_unique_variable_name("skae_outlier")
    container.add_node("Less", [decision, zero], [outlier],
                       name=scope.get_unique_operator_name("skae_Less"))
    labels = {}
    for value in (-1, 1):
        labels[value] = scope.get_unique_variable_name("skae_label")
        container.add_initializer(labels[value], onnx.TensorProto.INT64, [1], [value])
    column = scope.get_unique_variable_name("skae_labels")
    container.add_node("Where", [outlier, labels[-1], labels[1]], [column],
                       name=scope.get_unique_operator_name("skae_Where"))
    # One label per row, shape (n,), as predict returns.
    flat = scope.get_unique_variable_name("skae_flat")
    container.add_initializer(flat, onnx.TensorProto.INT64, [1], [-1])
    container.add_node("Reshape", [column, flat], [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("skae_Reshape"))


def _column_of_scores(module, x):
    return module(x).reshape(-1, 1)


def _detector_scores(scope, container, detector, input_name, output_name, dtype):
    ensemble = detector.score_module()
    if ensemble is not None:
        _add_module(scope, container, ensemble, _column_of_scores, detector.n_features_in_,
                    input_name, output_name, dtype)
        return
    autoencoder = detector.autoencoder_
    _add_module(scope, container, autoencoder.module_, _SampleScores(autoencoder),
                autoencoder.n_features_in_, input_name, output_name, dtype)


def _onnx_type(dtype):
    return onnx.TensorProto.DOUBLE if dtype == np.float64 else onnx.TensorProto.FLOAT


# -------------------------------------------------------------- classifier
def _classifier_shape(operator):
    n_rows = operator.inputs[0].get_first_dimension()
    estimator = operator.raw_operator
    operator.outputs[0].type = Int64TensorType([n_rows])
    _set_output_width(operator, len(estimator.classes_), index=1)


def _logits(module, x):
    return module(x)


def _convert_classifier(scope, operator, container):
    estimator = operator.raw_operator
    if estimator.classes_.dtype.kind not in "iu":
        raise NotImplementedError(
            "skae's ONNX converter of AutoencoderClassifier writes integer labels; "
            f"this one was fitted on labels of dtype {estimator.classes_.dtype}."
        )
    dtype = _input_dtype(operator)
    logits = scope.get_unique_variable_name("skae_logits")
    _add_module(scope, container, estimator.module_, _logits, estimator.n_features_in_,
                operator.inputs[0].full_name, logits, dtype)
    container.add_node("Softmax", [logits], [operator.outputs[1].full_name], axis=1,
                       name=scope.get_unique_operator_name("skae_Softmax"))
    best = scope.get_unique_variable_name("skae_best")
    container.add_node("ArgMax", [logits], [best], axis=1, keepdims=0,
                       name=scope.get_unique_operator_name("skae_ArgMax"))
    classes = scope.get_unique_variable_name("skae_classes")
    container.add_initializer(classes, onnx.TensorProto.INT64, [len(estimator.classes_)],
                              estimator.classes_.astype(np.int64))
    container.add_node("Gather", [classes, best], [operator.outputs[0].full_name], axis=0,
                       name=scope.get_unique_operator_name("skae_Gather"))


def _converter(estimator_class):
    """The (shape calculator, converter, options) of a skae class, by what it computes.

    Autoencoders encode or decode; a detector has a score module and a
    threshold; a classifier predicts probabilities; any other estimator on
    the engine whose module encodes (a map such as ParametricTSNE's) is
    converted as its ``transform``. A subclass, or a family written on
    :mod:`skae.extend`, gets the converter of what it is.
    """

    if issubclass(estimator_class, BaseAutoencoder):
        return _autoencoder_shape, _convert_autoencoder, {"method": _METHODS}
    if callable(getattr(estimator_class, "score_module", None)):
        return _detector_shape, _convert_detector, None
    if hasattr(estimator_class, "predict_proba"):
        # skl2onnx's classifier parser adds the ZipMap of the probabilities
        # when asked (its default), as for scikit-learn's classifiers.
        return _classifier_shape, _convert_classifier, {"zipmap": [True, False, "columns"],
                                                        "nocl": [False]}
    if issubclass(estimator_class, TorchEstimatorMixin) and hasattr(estimator_class,
                                                                    "transform"):
        options = {"method": _METHODS} if hasattr(estimator_class, "inverse_transform") else None
        return _embedding_shape, _convert_embedding, options
    return None


_REGISTERED = set()


def _register(estimator_class):
    if not issubclass(estimator_class, BaseEstimator) or estimator_class in _REGISTERED:
        return
    _REGISTERED.add(estimator_class)
    found = _converter(estimator_class)
    if found is None:
        return
    shape, convert, options = found
    update_registered_converter(
        estimator_class,
        f"Skae{estimator_class.__module__.replace('.', '_')}_{estimator_class.__qualname__}",
        shape, convert, options=options,
    )


def register_converters():
    """Register skae's converters with skl2onnx (done once on import; idempotent).

    Every skae estimator class gets its converter, and so does every class
    defined later: a subclass of a skae estimator, or a family written on
    :mod:`skae.extend`, converts with no registration of its own. Read more
    in the :ref:`User Guide <onnx_export>`.
    """
    if not _REGISTERED:
        on_estimator_class(_register)


register_converters()


def export_module(estimator, *, method="transform", opset_version=17):
    """An ONNX model of a fitted autoencoder's ``transform`` or ``inverse_transform`` alone.

    The torch module's ``encode`` (or ``decode``) exported with
    ``torch.onnx``: the graph the skl2onnx converters embed, as a model of
    its own rather than a step of a converted pipeline. It takes flat
    float32 rows named ``X``, any number of them, and returns the codes (or
    the reconstructions) as ``Y``.

    Read more in the :ref:`User Guide <onnx_export>`.

    Parameters
    ----------
    estimator : fitted skae autoencoder
        The estimator whose module is exported.
    method : {"transform", "inverse_transform"}, default="transform"
        The method the graph computes: the encoder or the decoder.
    opset_version : int, default=17
        The ONNX opset the graph is written in.

    Returns
    -------
    model : onnx.ModelProto
        The graph, with input ``X`` and output ``Y``.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    check_is_fitted(estimator)
    module = estimator.module_
    fn, width = ((_encode, module.n_features) if method == "transform"
                 else (_decode, module.n_components))
    graph = _torch_graph(module, fn, width, torch.float32, opset_version)
    return onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset_version)]
    )
