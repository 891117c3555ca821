"""Training steps of skae's dense stack on the CPU, differentiated by hand.

A training step of a small dense autoencoder (digits: 64-32-16-32-64, batch
64) is about thirty tensor operations of a few microseconds each. Through
autograd, skorch's ``train_step`` and the optimizer's ``step`` wrapper it
cost about 530 µs, most of it bookkeeping: building and walking the
autograd graph, ``zero_grad``, the optimizer's hooks, profiler records and
grouping of tensors by device, and a separate kernel per step counter.

:class:`LeanDenseStep` runs the same step without that bookkeeping, for
what :meth:`~skae.nn.DenseAutoencoderModule.affine_stack` describes (affine
layers, tied or not, and skae's activations) with the reconstruction
losses of :class:`~skae.nn.ReconstructionLoss`:

* the forward pass, the loss and the backward pass are written out, with
  torch's own backward kernels (``threshold_backward``, ``elu_backward``,
  ...), so the gradients are autograd's up to the rounding of a sum
  computed in another order; they are written into each parameter's
  ``.grad``, where any optimizer finds them;
* extra loss terms (sparsity penalties) are differentiated by autograd, on
  the reconstruction and the code alone: their functions stay the one
  definition of each term;
* a fused Adam (skae's ``optimizer="adam"``) is stepped by its fused kernel
  directly, with one step counter per parameter group for the epoch
  (written back to the optimizer's state when the epoch ends or stops);
  any other optimizer steps through its own ``step``.

Plain torch: nothing here imports scikit-learn or skorch.
"""

import contextlib

import torch
import torch.nn.modules.module as module_hooks
import torch.optim.optimizer as optimizer_hooks
from torch import nn
from torch.nn import functional as F

from ..nn import AutoencoderOutput, ReconstructionLoss

_aten = torch.ops.aten

# torch.nn.SELU's constants (torch.nn.functional.selu).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

_MODULE_HOOKS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
)


def _relu_backward(grad, result):
    return _aten.threshold_backward(grad, result, 0)


def _selu_backward(grad, result):
    return _aten.elu_backward(grad, _SELU_ALPHA, _SELU_SCALE, 1, True, result)


def _elu_kernels(alpha):
    def forward(z):
        F.elu(z, alpha, inplace=True)

    def backward(grad, result):
        return _aten.elu_backward(grad, alpha, 1, 1, True, result)

    return forward, backward


def activation_kernels(activation):
    """``(forward in place, backward from the result)`` for an activation module.

    Returns (None, None) for the identity (None) and None for an activation
    this step does not differentiate. Each backward is the kernel autograd
    runs for that activation, fed with the activation's output.
    """
    if activation is None:
        return None, None
    kind = type(activation)
    if kind is nn.ReLU:
        return torch.relu_, _relu_backward
    if kind is nn.Sigmoid:
        return torch.sigmoid_, _aten.sigmoid_backward
    if kind is nn.Tanh:
        return torch.tanh_, _aten.tanh_backward
    if kind is nn.SELU:
        return torch.selu_, _selu_backward
    if kind is nn.ELU and activation.alpha >= 0:
        # The output determines the gradient only for a non-negative alpha.
        return _elu_kernels(float(activation.alpha))
    return None


def lean_step_unsupported_reason(module, optimizer, criterion):
    """Why :class:`LeanDenseStep` cannot train ``module``; None when it can.

    It can train a module whose ``affine_stack()`` describes its forward
    pass, with skae's activations, float32 parameters on the CPU that all
    require gradients, no hooks on any submodule, a
    :class:`~skae.nn.ReconstructionLoss` criterion and an optimizer that
    does not re-evaluate the loss (any but LBFGS).
    """
    describe = getattr(module, "affine_stack", None)
    stack = describe() if describe is not None else None
    if stack is None:
        return f"{type(module).__name__} does not describe itself as an affine stack"
    for layer in stack.layers:
        if activation_kernels(layer.activation) is None:
            return f"the activation {layer.activation!r} is not differentiated by hand"
    parameters = list(module.parameters())
    if any(p.device.type != "cpu" or p.dtype != torch.float32 or not p.requires_grad
           for p in parameters):
        return "the lean step trains float32 parameters on the CPU, all of them"
    in_stack = {id(t) for layer in stack.layers for t in (layer.weight, layer.bias)}
    if any(id(p) not in in_stack for p in parameters):
        return "the module has parameters outside its affine stack"
    if any(getattr(m, hooks) for m in module.modules() for hooks in _MODULE_HOOKS):
        return "a submodule has hooks, which a hand-written step would not call"
    if any(p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None)
           for p in parameters):
        return "a parameter has gradient hooks"
    if _global_module_hooks():
        return "global module hooks are registered"
    if type(criterion) is not ReconstructionLoss or criterion.kind not in ("mse", "bce"):
        return f"the criterion {criterion!r} is not differentiated by hand"
    if isinstance(optimizer, torch.optim.LBFGS):
        return "LBFGS re-evaluates the loss within a step"
    return None


def _global_module_hooks():
    return any(getattr(module_hooks, name, None) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks",
    ))


class LeanDenseStep:
    """Training epochs of a dense stack, differentiated by hand, on the CPU.

    Check :func:`lean_step_unsupported_reason` first.

    Parameters
    ----------
    module : torch.nn.Module
        A module whose ``affine_stack()`` describes its forward pass.
    optimizer : torch.optim.Optimizer
        The optimizer of the module's parameters.
    criterion : ReconstructionLoss
        The reconstruction loss ("mse" or "bce").
    """

    def __init__(self, module, optimizer, criterion):
        self.module = module
        self.optimizer = optimizer
        self.criterion = criterion
        self.parameters = list(module.parameters())
        # One gradient buffer per parameter, kept as its .grad: every step
        # overwrites it (a tied weight's second term is added to it).
        self.gradients = {
            id(p): p.grad if _reusable_gradient(p) else torch.zeros_like(p)
            for p in self.parameters
        }
        self._scales = {}

    def _read_stack(self):
        """The module's layers as this step runs them, read afresh for each epoch."""
        stack = self.module.affine_stack()
        self.corruption = stack.corruption
        self.code_index = stack.code_index
        written = set()
        layers = []
        for layer in reversed(stack.layers):
            forward, backward = activation_kernels(layer.activation)
            weight, bias = layer.weight, layer.bias
            # The matrices of the forward (x @ forward_matrix) and backward
            # (g @ backward_matrix) products: views of the weight, which
            # follow its in-place updates within the epoch.
            forward_matrix, backward_matrix = (
                (weight, weight.t()) if layer.transposed else (weight.t(), weight)
            )
            layers.append((
                forward_matrix, bias, forward, backward, backward_matrix, layer.transposed,
                self.gradients[id(weight)], id(weight) in written,
                None if bias is None else self.gradients[id(bias)],
            ))
            written.add(id(weight))
        # Forward order; each layer knows whether its weight's gradient
        # already holds a term when the backward pass reaches it.
        self.layers = layers[::-1]

    def trains(self, module, optimizer, criterion):
        """Whether this step still trains ``module`` with ``optimizer`` and ``criterion``.

        False once a parameter was replaced: its gradient buffer is the
        old one's.
        """
        return (
            module is self.module and optimizer is self.optimizer
            and criterion is self.criterion
            and all(a is b for a, b in zip(module.parameters(), self.parameters))
        )

    def run_epoch(self, batches, *, reconstruction_weight=1.0, penalties=()):
        """One training pass over ``batches`` of (input, target) rows.

        Returns
        -------
        mean_loss : float
            The loss of the pass, its batches weighted by their rows.
        n_batches, n_rows : int
        """
        for p in self.parameters:
            gradient = self.gradients[id(p)]
            if p.grad is not gradient:
                p.grad = gradient
        self._read_stack()
        self.reconstruction_weight = float(reconstruction_weight)
        self.penalties = tuple(penalties)
        loss_sum = 0.0
        n_batches = n_rows = 0
        with torch.no_grad(), self._optimizer_steps() as optimizer_step:
            for X, y in batches:
                loss = self.step(X, y)
                optimizer_step()
                rows = len(X)
                loss_sum += loss * rows
                n_batches += 1
                n_rows += rows
        return loss_sum / n_rows, n_batches, n_rows

    @contextlib.contextmanager
    def _optimizer_steps(self):
        """A block whose ``step()`` steps the optimizer once.

        A fused Adam is stepped by its kernel directly, once it has a state
        (after its first step, which runs through ``Adam.step``); any other
        optimizer through its own ``step``.
        """
        with contextlib.ExitStack() as cleanup:
            chosen = []

            def step():
                if chosen:
                    return chosen[0]()
                adam = _FusedAdamSteps.of(self.optimizer, self.gradients)
                if adam is None:
                    self.optimizer.step()
                    adam = _FusedAdamSteps.of(self.optimizer, self.gradients)
                    chosen.append(self.optimizer.step if adam is None
                                  else cleanup.enter_context(adam.counting()))
                    return None
                chosen.append(cleanup.enter_context(adam.counting()))
                return chosen[0]()

            yield step

    def step(self, X, y):
        """Write the gradients of the loss on one batch into ``.grad``; return the loss."""
        h = X if self.corruption is None else self.corruption(X)
        # outputs[d] is the input of layer d, outputs[d + 1] its output.
        outputs = [h]
        for matrix, bias, forward, *_ in self.layers:
            h = torch.mm(h, matrix) if bias is None else torch.addmm(bias, h, matrix)
            if forward is not None:
                forward(h)
            outputs.append(h)
        loss, grad = self._reconstruction_loss(h, y)
        code_grad = None
        if self.penalties:
            extra, grad_extra, code_grad = self._penalties(h, outputs[self.code_index + 1])
            loss = loss + extra
            if grad_extra is not None:
                grad = grad + grad_extra
        for depth in range(len(self.layers) - 1, -1, -1):
            (_, bias, _, backward, backward_matrix, transposed, weight_grad, accumulate,
             bias_grad) = self.layers[depth]
            if depth == self.code_index and code_grad is not None:
                grad = grad + code_grad
            if backward is not None:
                grad = backward(grad, outputs[depth + 1])
            x = outputs[depth]
            # z = x W^T (or x W when transposed): dW = g^T x (or x^T g).
            first, second = (x.t(), grad) if transposed else (grad.t(), x)
            if accumulate:
                weight_grad.addmm_(first, second)
            else:
                torch.mm(first, second, out=weight_grad)
            if bias is not None:
                torch.sum(grad, 0, out=bias_grad)
            if depth:
                grad = torch.mm(grad, backward_matrix)
        return loss

    def _reconstruction_loss(self, reconstruction, target):
        """The weighted loss (a float) and its gradient with respect to the reconstruction."""
        weight = self.reconstruction_weight
        scale = self._scale(reconstruction.numel())
        if self.criterion.kind == "bce":
            # The criterion's own forward (the same values, the same checks
            # of the input's range) and autograd's backward kernel.
            loss = float(self.criterion(reconstruction, target)) * weight
            return loss, _aten.binary_cross_entropy_backward(
                scale[1], reconstruction, target, None, 1
            )
        difference = torch.sub(reconstruction, target)
        flat = difference.view(-1)
        loss = float(torch.dot(flat, flat)) * weight / flat.numel()
        return loss, torch.mul(difference, scale[0])

    def _scale(self, numel):
        """Gradient factors for a batch of ``numel`` values: 2 w / numel (mse), w (bce)."""
        factors = self._scales.get(numel)
        weight = self.reconstruction_weight
        if factors is None or factors[2] != weight:
            factors = (
                torch.tensor(2.0 * weight / numel), torch.tensor(weight), weight,
            )
            self._scales[numel] = factors
        return factors

    def _penalties(self, reconstruction, code):
        """The weighted extra terms (a float) and their gradients, by autograd."""
        leaves = (reconstruction.detach().requires_grad_(), code.detach().requires_grad_())
        with torch.enable_grad():
            output = AutoencoderOutput(*leaves)
            total = None
            for weight, penalty in self.penalties:
                term = weight * penalty(output)
                total = term if total is None else total + term
            if total is None or not total.requires_grad:
                return float(total if total is not None else 0.0), None, None
            grads = torch.autograd.grad(total, leaves, allow_unused=True)
        return float(total), grads[0], grads[1]


def _reusable_gradient(parameter):
    grad = parameter.grad
    return (
        grad is not None and grad.shape == parameter.shape and grad.dtype == parameter.dtype
        and grad.is_contiguous() and not grad.is_sparse and grad.data_ptr() != 0
    )


class _FusedAdamSteps:
    """The update of ``torch.optim.Adam(fused=True).step()``, by its fused kernel directly.

    ``Adam.step`` spends about 60 µs per call on a small net around a
    ~15 µs kernel: the ``step`` wrapper's hooks and profiler records,
    grouping tensors by device, and incrementing each parameter's step
    counter (a kernel launch each). Here each parameter group's state
    lists are read once per epoch, and its counters, equal in every
    parameter, are one tensor for the epoch, copied back into each
    parameter's counter when the epoch ends, normally or not.
    """

    def __init__(self, optimizer, groups):
        self.optimizer = optimizer
        self.groups = groups

    @classmethod
    def of(cls, optimizer, gradients):
        """The direct steps for ``optimizer``, or None where its own ``step`` must run."""
        kernels = {torch.optim.Adam: "_fused_adam_", torch.optim.AdamW: "_fused_adamw_"}
        if type(optimizer) not in kernels or not hasattr(torch, kernels[type(optimizer)]):
            return None
        if optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks:
            return None
        if (getattr(optimizer_hooks, "_global_optimizer_pre_hooks", None)
                or getattr(optimizer_hooks, "_global_optimizer_post_hooks", None)):
            return None
        groups = []
        for group in optimizer.param_groups:
            if (not group.get("fused") or group.get("capturable")
                    or group.get("differentiable")):
                return None
            params = group["params"]
            states = [optimizer.state.get(p) for p in params]
            if any(p.grad is not gradients.get(id(p)) for p in params):
                return None  # a parameter this step does not compute the gradient of
            keys = ("step", "exp_avg", "exp_avg_sq") + (
                ("max_exp_avg_sq",) if group["amsgrad"] else ())
            if any(not state or any(k not in state for k in keys) for state in states):
                return None  # no state before the first step
            decoupled = group.get("decoupled_weight_decay",
                                  type(optimizer) is torch.optim.AdamW)
            groups.append((group, params, states, decoupled))
        return cls(optimizer, groups)

    @contextlib.contextmanager
    def counting(self):
        """A block whose ``step()`` calls each make one Adam update of every group."""
        calls = []
        counters = []
        for group, params, states, decoupled in self.groups:
            steps = [state["step"] for state in states]
            shared = steps[0].clone() if steps else None
            if shared is not None and any(
                s.shape != shared.shape or s.dtype != shared.dtype or s.device != shared.device
                or not torch.equal(s, shared) for s in steps
            ):
                shared = None
            counters.append((steps, shared))
            kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
            beta1, beta2 = (float(b) for b in group["betas"])
            calls.append((
                kernel, params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                [s["max_exp_avg_sq"] for s in states] if group["amsgrad"] else [],
                [shared] * len(steps) if shared is not None else steps,
                dict(lr=group["lr"], beta1=beta1, beta2=beta2,
                     weight_decay=group["weight_decay"], eps=group["eps"],
                     amsgrad=group["amsgrad"], maximize=group["maximize"]),
            ))
        one = torch.ones(())

        def step():
            for counter, (kernel, params, grads, avgs, squares, maxima, steps, settings) in zip(
                counters, calls
            ):
                if counter[1] is not None:
                    counter[1].add_(one)
                else:
                    torch._foreach_add_(steps, 1)
                kernel(params, grads, avgs, squares, maxima, steps, **settings)

        try:
            yield step
        finally:
            for steps, shared in counters:
                if shared is not None:
                    for s in steps:
                        s.copy_(shared)
