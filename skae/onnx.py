"""ONNX export through skl2onnx: converters for the dense skae estimators.

Importing this module registers the converters with
:func:`skl2onnx.update_registered_converter`, after which
:func:`skl2onnx.to_onnx` converts skae estimators, and pipelines that
contain them, like any scikit-learn model. It needs the ``onnx`` extra
(``pip install "skae[onnx]"``: skl2onnx and onnxruntime).

Supported: :class:`~skae.LinearAutoencoder`, :class:`~skae.Autoencoder`,
:class:`~skae.DenoisingAutoencoder`, :class:`~skae.SparseAutoencoder` and
:class:`~skae.VariationalAutoencoder` (``transform`` gives the mean coding,
as skae does), each with ``transform`` and, with the converter option
``{"method": "inverse_transform"}``, ``inverse_transform``;
:class:`~skae.AutoencoderOutlierDetector` over one of these trained with the
squared error (``label`` and ``scores`` outputs, as skl2onnx gives
IsolationForest's); and :class:`~skae.ParametricTSNE` (``transform``: the
map of new rows). The graphs are written from the fitted weights with
plain ONNX operators (MatMul, Add and the activations), in the input's float
type, so onnxruntime runs them without torch.

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
    from skl2onnx.algebra.onnx_ops import (
        OnnxAdd,
        OnnxElu,
        OnnxExp,
        OnnxGreater,
        OnnxIdentity,
        OnnxLess,
        OnnxMatMul,
        OnnxMul,
        OnnxNeg,
        OnnxReduceMeanApi18,
        OnnxRelu,
        OnnxReshapeApi13,
        OnnxSelu,
        OnnxSigmoid,
        OnnxSoftmax,
        OnnxSub,
        OnnxTanh,
        OnnxWhere,
    )
    from skl2onnx.common.data_types import Int64TensorType, guess_numpy_type
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ONNX export needs skl2onnx and onnxruntime: install them with "
        "pip install \"skae[onnx]\"."
    ) from exc

import io
import warnings

import numpy as np
import onnx
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._dense import Autoencoder
from ._denoising import DenoisingAutoencoder
from ._linear import LinearAutoencoder
from ._outlier import AutoencoderOutlierDetector
from ._sparse import SparseAutoencoder
from ._tsne import ParametricTSNE
from ._variational import VariationalAutoencoder
from .nn import LinearAutoencoderModule, VariationalAutoencoderModule

__all__ = ["DENSE_ESTIMATORS", "export_module", "register_converters"]

DENSE_ESTIMATORS = (
    LinearAutoencoder,
    Autoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)

_METHODS = ["transform", "inverse_transform"]


def _array(tensor, dtype):
    return tensor.detach().cpu().numpy().astype(dtype)


def _exponential_linear(node, alpha, scale, dtype, opv):
    """``scale * (x if x > 0 else alpha * (exp(x) - 1))``, from primitive operators."""
    negative_part = OnnxMul(
        OnnxSub(OnnxExp(node, op_version=opv), np.array([1], dtype=dtype), op_version=opv),
        np.array([alpha], dtype=dtype), op_version=opv,
    )
    positive = OnnxGreater(node, np.array([0], dtype=dtype), op_version=opv)
    out = OnnxWhere(positive, node, negative_part, op_version=opv)
    return OnnxMul(out, np.array([scale], dtype=dtype), op_version=opv) if scale != 1 else out


# torch's SELU constants in full: ONNX's defaults are their float32 roundings.
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _activation(node, activation, dtype, opv):
    """``activation`` (a torch module of skae's ACTIVATIONS) as an ONNX node."""
    if isinstance(activation, nn.Identity):
        return node
    if isinstance(activation, nn.ReLU):
        return OnnxRelu(node, op_version=opv)
    if isinstance(activation, (nn.ELU, nn.SELU)):
        alpha, scale = ((float(activation.alpha), 1.0) if isinstance(activation, nn.ELU)
                        else (_SELU_ALPHA, _SELU_SCALE))
        if dtype == np.float64:
            # onnxruntime implements Elu and Selu for float32 only.
            return _exponential_linear(node, alpha, scale, dtype, opv)
        if isinstance(activation, nn.ELU):
            return OnnxElu(node, alpha=alpha, op_version=opv)
        return OnnxSelu(node, alpha=alpha, gamma=scale, op_version=opv)
    if isinstance(activation, nn.Tanh):
        return OnnxTanh(node, op_version=opv)
    if isinstance(activation, nn.Sigmoid):
        return OnnxSigmoid(node, op_version=opv)
    raise NotImplementedError(f"no ONNX conversion for the activation {activation!r}")


def _linear(node, weight, bias, dtype, opv):
    """torch's ``F.linear``: ``node @ weight.T + bias``."""
    out = OnnxMatMul(node, _array(weight.t(), dtype), op_version=opv)
    if bias is not None:
        out = OnnxAdd(out, _array(bias, dtype), op_version=opv)
    return out


def _check_dense(module):
    # The converters write DenseAutoencoderModule's computation out; a
    # module built otherwise (a user's subclass) may compute something else.
    if not hasattr(module, "encoder_layers"):
        raise NotImplementedError(
            f"skae's ONNX converters cover the dense autoencoder modules; got {type(module)}."
        )


def _encoder_graph(module, x, dtype, opv):
    """The ONNX graph of ``module.encode``."""
    if isinstance(module, LinearAutoencoderModule):
        x = OnnxSub(x, _array(module.mean, dtype), op_version=opv)
    layers = module.encoder_layers
    for layer in layers[:-1]:
        x = _activation(_linear(x, layer.weight, layer.bias, dtype, opv),
                        module.hidden_activation, dtype, opv)
    code = _linear(x, layers[-1].weight, layers[-1].bias, dtype, opv)
    # A VAE's code is its mean head, read before any code activation.
    if not isinstance(module, VariationalAutoencoderModule):
        code = _activation(code, module.code_activation, dtype, opv)
    return code


def _decoder_graph(module, z, dtype, opv):
    """The ONNX graph of ``module.decode``."""
    layers = module.encoder_layers
    last = len(layers) - 1
    for depth in range(last + 1):
        if module.tied_weights:
            # The decoder layer uses its mirror encoder layer's transposed weight.
            weight = layers[last - depth].weight.t()
            bias = module.decoder_biases[depth]
        else:
            weight, bias = module.decoder_layers[depth].weight, module.decoder_layers[depth].bias
        activation = module.output_activation if depth == last else module.hidden_activation
        z = _activation(_linear(z, weight, bias, dtype, opv), activation, dtype, opv)
    if isinstance(module, LinearAutoencoderModule):
        z = OnnxAdd(z, _array(module.mean, dtype), op_version=opv)
    return z


def _embedding_graph(module, x, dtype, opv):
    """The ONNX graph of :class:`~skae.nn._tsne.EmbeddingModule`'s ``encode``."""
    # Constants are derived in float64 from the float32 weights, then cast
    # once to the graph's type.
    scale = float(module.scale)
    shift = module.shift.detach().double()
    if module.projection is None:
        x = OnnxMul(OnnxSub(x, _array(shift, dtype), op_version=opv),
                    np.array([1.0 / scale], dtype=dtype), op_version=opv)
    else:
        projection = module.projection.detach().double() / scale
        x = _linear(x, projection.t(), -(shift @ projection), dtype, opv)
    if module.landmarks is not None:
        landmarks = module.landmarks
        centres = landmarks.centres.detach().double()
        inverse_temperature = float(torch.exp(-landmarks.log_temperature.detach().double()))
        logits = _linear(x, centres * (2.0 * inverse_temperature),
                         centres.square().sum(dim=1) * -inverse_temperature, dtype, opv)
        x = OnnxMul(OnnxSoftmax(logits, axis=1, op_version=opv),
                    np.array([landmarks.gain], dtype=dtype), op_version=opv)
    x = _linear(x, module.first.weight, module.first.bias, dtype, opv)
    for layer in module.later:
        if isinstance(layer, nn.Linear):
            x = _linear(x, layer.weight, layer.bias, dtype, opv)
        else:
            x = _activation(x, layer, dtype, opv)
    return x


def _set_output_width(operator, width):
    """The first output: one row per input row, ``width`` columns, in the input's float type."""
    input_type = operator.inputs[0].type.__class__
    operator.outputs[0].type = input_type([operator.inputs[0].get_first_dimension(), width])


def _embedding_shape(operator):
    _set_output_width(operator, operator.raw_operator.embedding_.shape[1])


def _convert_embedding(scope, operator, container):
    # skl2onnx finds converters by exact class, so this is ParametricTSNE
    # itself, whose module is always an EmbeddingModule.
    module = operator.raw_operator.module_
    opv = container.target_opset
    dtype = guess_numpy_type(operator.inputs[0].type)
    out = _embedding_graph(module, operator.inputs[0], dtype, opv)
    OnnxIdentity(out, op_version=opv, output_names=operator.outputs[:1]).add_to(scope, container)


def _method(container, estimator):
    return container.get_options(estimator, dict(method="transform"))["method"]


def _autoencoder_shape(operator):
    estimator = operator.raw_operator
    method = operator.scope_inst.get_options(estimator, dict(method="transform"))["method"]
    width = estimator.n_features_in_ if method == "inverse_transform" else estimator.n_components_
    _set_output_width(operator, width)


def _convert_autoencoder(scope, operator, container):
    estimator = operator.raw_operator
    module = estimator.module_
    _check_dense(module)
    opv = container.target_opset
    dtype = guess_numpy_type(operator.inputs[0].type)
    x = operator.inputs[0]
    if _method(container, estimator) == "inverse_transform":
        out = _decoder_graph(module, x, dtype, opv)
    else:
        out = _encoder_graph(module, x, dtype, opv)
    OnnxIdentity(out, op_version=opv, output_names=operator.outputs[:1]).add_to(scope, container)


def _detector_shape(operator):
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = Int64TensorType([n_rows])
    operator.outputs[1].type = operator.inputs[0].type.__class__([n_rows, 1])


def _convert_detector(scope, operator, container):
    detector = operator.raw_operator
    autoencoder = detector.autoencoder_
    module = autoencoder.module_
    _check_dense(module)
    if (isinstance(module, VariationalAutoencoderModule)
            or autoencoder._reconstruction_loss() != "mse"):
        raise NotImplementedError(
            "the ONNX converter of AutoencoderOutlierDetector covers dense autoencoders "
            "scored by the squared error, not the ELBO or the cross-entropy."
        )
    opv = container.target_opset
    dtype = guess_numpy_type(operator.inputs[0].type)
    x = operator.inputs[0]
    reconstruction = _decoder_graph(module, _encoder_graph(module, x, dtype, opv), dtype, opv)
    error = OnnxSub(reconstruction, x, op_version=opv)
    mean_square = OnnxReduceMeanApi18(OnnxMul(error, error, op_version=opv),
                                      axes=[1], keepdims=1, op_version=opv)
    # decision_function = score_samples - offset_ = -mean squared error - offset_.
    decision = OnnxSub(OnnxNeg(mean_square, op_version=opv),
                       np.array([detector.offset_], dtype=dtype), op_version=opv,
                       output_names=operator.outputs[1:2])
    outlier = OnnxLess(decision, np.array([0], dtype=dtype), op_version=opv)
    label = OnnxWhere(outlier, np.array([-1], dtype=np.int64), np.array([1], dtype=np.int64),
                      op_version=opv)
    # One label per row, shape (n,), as predict returns.
    OnnxReshapeApi13(label, np.array([-1], dtype=np.int64), op_version=opv,
                     output_names=operator.outputs[:1]).add_to(scope, container)
    decision.add_to(scope, container)


def register_converters():
    """Register skae's converters with skl2onnx (done once on import; idempotent).

    Read more in the :ref:`User Guide <onnx_export>`.
    """
    for estimator_class in DENSE_ESTIMATORS:
        update_registered_converter(
            estimator_class, f"Skae{estimator_class.__name__}", _autoencoder_shape,
            _convert_autoencoder, options={"method": _METHODS},
        )
    update_registered_converter(
        AutoencoderOutlierDetector, "SkaeAutoencoderOutlierDetector", _detector_shape,
        _convert_detector,
    )
    update_registered_converter(
        ParametricTSNE, "SkaeParametricTSNE", _embedding_shape, _convert_embedding,
    )


register_converters()


class _Method(nn.Module):
    """One of a module's contract methods as a forward pass, for torch.onnx."""

    def __init__(self, module, method):
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, x):
        return getattr(self.module, self.method)(x)


def export_module(estimator, *, method="transform", opset_version=17):
    """An ONNX model of a fitted estimator's ``transform`` or ``inverse_transform``.

    For the estimators skl2onnx has no converter for here
    (:class:`~skae.ConvolutionalAutoencoder`, :class:`~skae.RecurrentAutoencoder`),
    the torch module's ``encode`` (or ``decode``) is exported with
    ``torch.onnx`` instead; any skae autoencoder works. The graph takes flat
    float32 rows named ``X``, any number of them, and returns the codes (or
    the reconstructions) as ``Y``. It is a model of its own, not a step of a
    converted pipeline.

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
    width = module.n_features if method == "transform" else module.n_components
    device = next(module.parameters()).device
    example = torch.zeros((2, width), dtype=torch.float32, device=device)
    wrapped = _Method(module, "encode" if method == "transform" else "decode").eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch.onnx's notes on its exporters are no news to the caller.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                wrapped, (example,), buffer, input_names=["X"], output_names=["Y"],
                dynamic_axes={"X": {0: "n_samples"}, "Y": {0: "n_samples"}},
                opset_version=opset_version, dynamo=False,
            )
    return onnx.load_model_from_string(buffer.getvalue())
