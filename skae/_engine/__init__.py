"""The training engine: the skorch net, batching, data sources, callbacks,
captured CUDA steps, data-parallel training and the runtime.

Estimators reach it through the contract of :mod:`skae.extend` only; what
is here is the engine's own and may change.
"""
