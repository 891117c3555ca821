"""Training steps replayed from one captured CUDA graph.

At batch 256 an eager training step of a small dense net is bound by
launch overhead: some 40 kernels, each a few microseconds of Python and
driver work, for about 10 microseconds of arithmetic. Capturing the whole
step once -- gathering the batch on the device, forward, loss, backward
and a fused capturable Adam update -- and replaying it removes that
overhead, and lets TF32 or bf16 matmuls show their speed.

:class:`CapturedTrainStep` does that for one module, one optimizer and one
device-resident training set. Plain torch: nothing here imports
scikit-learn or skorch.
"""

import contextlib

import torch

PRECISIONS = ("float32", "tf32", "bfloat16")

# Optimizers whose capturable step reads its learning rate from a device
# tensor, so that a scheduler's change between epochs needs no re-capture.
_CAPTURABLE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def capture_unsupported_reason(optimizer, device):
    """Why training steps with ``optimizer`` on ``device`` cannot be captured.

    Returns None when they can: the device is CUDA and ``optimizer`` is a
    :class:`torch.optim.Adam` or :class:`torch.optim.AdamW` created with
    ``capturable=True`` (``fused=True`` is the fastest such step).
    """
    if torch.device(device).type != "cuda":
        return f"CUDA graphs need a CUDA device, not {device}"
    if not isinstance(optimizer, _CAPTURABLE_OPTIMIZERS):
        return (
            f"{type(optimizer).__name__} cannot be captured; only torch.optim.Adam "
            "and AdamW created with capturable=True can"
        )
    if not all(group.get("capturable") for group in optimizer.param_groups):
        return f"{type(optimizer).__name__} was not created with capturable=True"
    if any(group.get("differentiable") for group in optimizer.param_groups):
        return "a differentiable optimizer cannot be captured"
    return None


@contextlib.contextmanager
def precision_settings(precision):
    """Set torch's process-global float32 math flags for ``precision``; restore them after.

    "tf32" lets cuBLAS matmuls and cuDNN convolutions round their float32
    operands to TF32; "float32" and "bfloat16" forbid it (bf16 comes from
    autocast instead). The flags are process-global: another thread
    training at the same time sees them too.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    matmul = torch.get_float32_matmul_precision()
    convolution = torch.backends.cudnn.allow_tf32
    tf32 = precision == "tf32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = convolution


class CapturedTrainStep:
    """Run an epoch of training steps as replays of one captured CUDA graph.

    Each full batch of ``batch_size`` rows is one replay of a graph that
    gathers the rows named by the next slice of the epoch's permutation
    from the device-resident ``inputs`` (and ``targets``), computes
    ``loss_fn``, back-propagates, steps the optimizer and adds the loss to
    a device-side sum. The first ``warmup_steps`` full batches run as eager
    steps (on a side stream, as CUDA graph capture requires; they are
    ordinary training steps). The last, shorter batch of an epoch runs
    eagerly the first time its size is seen, and as a second captured
    graph from the next epoch on (``len(order) % batch_size`` does not
    change between the epochs of a fit). The loss is read back once per
    epoch, by the caller.

    Where the step cannot be captured -- a CPU device, an optimizer other
    than Adam/AdamW created with ``capturable=True``, or a capture that
    fails (a loss that synchronises with the host, say) -- every step runs
    eagerly, with the same results; :attr:`fallback_reason` says why.

    Parameters
    ----------
    module : torch.nn.Module
        The model, on the device. It is put in training mode each epoch.
    optimizer : torch.optim.Optimizer
        Over ``module``'s parameters; capture needs ``torch.optim.Adam`` or
        ``AdamW`` created with ``fused=True, capturable=True`` (or
        ``foreach`` with ``capturable=True``). Learning-rate changes between
        epochs (a scheduler, ``group["lr"] = ...``) take effect; changing
        any other setting, the batch size or the precision re-captures.
    loss_fn : callable
        ``loss_fn(batch_inputs, batch_targets)`` returns the scalar loss
        tensor; it calls the module. It must not synchronise with the host
        (no ``.item()``, no data-dependent Python control flow).
    inputs : torch.Tensor
        The training rows, on the module's device, first axis the sample.
    targets : torch.Tensor or None, default=None
        Aligned with ``inputs``; None means the inputs are the targets
        (gathered once per batch).
    batch_size : int
    precision : {"float32", "tf32", "bfloat16"}, default="float32"
        "float32" runs every matmul in full float32; "tf32" lets matmuls
        and convolutions use TF32 (10-bit mantissa operands, float32
        accumulation); "bfloat16" runs the forward pass and the loss under
        bf16 autocast (weights, gradients and optimizer state stay
        float32). The global flags are set around each epoch and restored.
        Only "float32" is accepted on a non-CUDA device.
    warmup_steps : int, default=3
        Eager full-batch steps before the capture (at least 1: the first
        step creates the optimizer's state).
    capture : bool, default=True
        False runs every step eagerly (a reference, or a debugging aid).

    Attributes
    ----------
    fallback_reason : str or None
        Why the steps run eagerly; None while capture is possible.
    n_captures : int
        Graphs captured so far: one for the full batches, one for a shorter
        last batch, and new ones after a change of batch size, precision,
        optimizer settings, or parameter or optimizer-state tensors.
    n_replays, n_eager_steps : int
        Steps run each way so far.

    Notes
    -----
    Random operations inside the captured step (dropout, noise, a VAE's
    sampling) draw from the default CUDA generator, which registers with
    the graph: each replay draws fresh numbers, in the same sequence as
    eager steps would. A module that uses its own ``torch.Generator`` must
    register it with the graph itself, or run with ``capture=False``.

    Gradients are set to None before the capture, so the captured backward
    writes them (instead of accumulating into zeroed buffers); after an
    epoch ``p.grad`` holds the last step's gradient.

    Bind a new instance when the training tensors change; parameters and
    optimizer state may be changed in place (``load_state_dict`` on either
    triggers a re-capture).
    """

    def __init__(
        self,
        module,
        optimizer,
        loss_fn,
        inputs,
        targets=None,
        *,
        batch_size,
        precision="float32",
        warmup_steps=3,
        capture=True,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
        if inputs.device.type != "cuda" and precision != "float32":
            raise ValueError(
                f"precision={precision!r} needs a CUDA device; the inputs are on "
                f"{inputs.device}. Use precision='float32'."
            )
        if int(warmup_steps) < 1:
            # The first step creates the optimizer state; inside a capture
            # it would be allocated but never initialised.
            raise ValueError(f"warmup_steps must be at least 1; got {warmup_steps}.")
        if targets is not None and len(targets) != len(inputs):
            raise ValueError(
                f"inputs and targets differ in length: {len(inputs)} and {len(targets)}."
            )
        self.module = module
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.inputs = inputs
        self.targets = targets
        self.batch_size = int(batch_size)
        self.precision = precision
        self.warmup_steps = int(warmup_steps)
        self.device = inputs.device
        if not capture:
            self.fallback_reason = "capture=False"
        else:
            self.fallback_reason = capture_unsupported_reason(optimizer, self.device)
        self.n_captures = 0
        self.n_replays = 0
        self.n_eager_steps = 0
        self._warmups_done = 0
        # Graphs by batch size: the full batches', and the last batch's once
        # an epoch has shown its size (n_rows % batch_size is the same every
        # epoch of a fit). They share one memory pool.
        self._graphs = {}
        self._graph_key = None
        self._tail_sizes_seen = set()
        self._loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        if self.fallback_reason is None:
            # Static buffers that the graphs read: the epoch's permutation,
            # the position of the next batch in it, and the learning rates.
            self._order = torch.zeros(len(inputs), dtype=torch.int64, device=self.device)
            self._offset = torch.zeros((), dtype=torch.int64, device=self.device)
            self._lr_tensors = [
                torch.zeros((), dtype=torch.float32, device=self.device)
                for _ in optimizer.param_groups
            ]
            self._lr_values = [None] * len(optimizer.param_groups)
            self._capture_stream = torch.cuda.Stream(self.device)

    # ------------------------------------------------------------------ API
    @property
    def captured(self):
        """Whether full batches currently replay a captured graph."""
        return self.batch_size in self._graphs

    def run_epoch(self, order):
        """Train one epoch over the rows ``order`` names, in that order.

        Parameters
        ----------
        order : torch.Tensor
            1-D int64 row numbers into ``inputs`` (a permutation, or a
            permuted subset); at most ``len(inputs)`` of them.

        Returns
        -------
        torch.Tensor
            0-d float64 tensor on the device: the epoch's loss averaged over
            its rows (batch losses weighted by batch size). Reading it
            (``float()``) waits for the epoch to finish.
        """
        n_rows = len(order)
        if n_rows == 0:
            raise ValueError("order is empty: an epoch needs at least one row.")
        if n_rows > len(self.inputs):
            raise ValueError(
                f"order names {n_rows} rows but inputs hold only {len(self.inputs)}."
            )
        order = order.to(self.device, torch.int64, non_blocking=True)
        self.module.train()
        with precision_settings(self.precision):
            self._loss_sum.zero_()
            done = 0
            if self.fallback_reason is None:
                done = self._replay_epoch(order)
            for start in range(done, n_rows, self.batch_size):
                self._eager_step(order[start : start + self.batch_size])
        return self._loss_sum / n_rows

    def release(self):
        """Drop the captured graphs and their memory; gradients become None."""
        self._graphs = {}
        self._graph_key = None
        self._tail_sizes_seen = set()
        self.optimizer.zero_grad(set_to_none=True)

    # ------------------------------------------------------------- the step
    def _autocast(self):
        if self.precision == "bfloat16":
            # The weight-cast cache must be off while capturing: cached
            # casts would be freed with the graph's first run.
            return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def _loss(self, index):
        batch_inputs = self.inputs.index_select(0, index)
        if self.targets is None:
            batch_targets = batch_inputs
        else:
            batch_targets = self.targets.index_select(0, index)
        with self._autocast():
            return self.loss_fn(batch_inputs, batch_targets)

    def _eager_step(self, index):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(index)
        loss.backward()
        self.optimizer.step()
        self._loss_sum.add_(loss.detach(), alpha=len(index))
        self.n_eager_steps += 1

    def _captured_step(self, size):
        # Everything here is recorded once and replayed: the positions of
        # the next batch in the permutation advance on the device.
        positions = torch.arange(size, device=self.device, dtype=torch.int64).add_(self._offset)
        loss = self._loss(self._order.index_select(0, positions))
        loss.backward()
        self.optimizer.step()
        self._loss_sum.add_(loss.detach(), alpha=size)
        self._offset.add_(size)

    def _replay_epoch(self, order):
        """Run what the graphs can of this epoch; return the rows done."""
        n_rows, batch_size = len(order), self.batch_size
        n_full = n_rows // batch_size
        if self._graphs and self._graph_key != self._key():
            # Stale: settings or tensors changed; warm up the new shapes.
            self._graphs = {}
            self._tail_sizes_seen = set()
            self._warmups_done = 0
        step = 0
        full = self._graphs.get(batch_size)
        if full is None and n_full:
            step = self._warm_up(order, n_full)
            if self._warmups_done >= self.warmup_steps and step < n_full:
                full = self._capture(batch_size)
        if full is None:
            return step * batch_size
        self._sync_learning_rates()
        self._order[:n_rows].copy_(order)
        self._offset.fill_(step * batch_size)
        for _ in range(n_full - step):
            full.replay()
        self.n_replays += n_full - step
        tail_size = n_rows - n_full * batch_size
        if not tail_size:
            return n_rows
        tail = self._graphs.get(tail_size)
        if tail is None and tail_size in self._tail_sizes_seen:
            # Its shapes ran eagerly last epoch: that was the warm-up.
            tail = self._capture(tail_size)
        if tail is None:
            self._tail_sizes_seen.add(tail_size)
            return n_full * batch_size
        tail.replay()
        self.n_replays += 1
        return n_rows

    # -------------------------------------------------------------- capture
    def _warm_up(self, order, n_full):
        """Eager full-batch steps on a side stream until warm; return the steps run."""
        steps = min(self.warmup_steps - self._warmups_done, n_full)
        if steps <= 0:
            return 0
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for step in range(steps):
                start = step * self.batch_size
                self._eager_step(order[start : start + self.batch_size])
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._warmups_done += steps
        return steps

    def _capture(self, size):
        """Capture the step for batches of ``size`` rows; None if it fails."""
        graph = torch.cuda.CUDAGraph()
        groups = self.optimizer.param_groups
        learning_rates = [group["lr"] for group in groups]
        self._sync_learning_rates()
        # Set to None, the gradients are written, not accumulated, by the
        # captured backward: no zeroing kernels in the graph.
        self.optimizer.zero_grad(set_to_none=True)
        # The graphs run one after the other, never at once: one pool.
        pool = next(iter(self._graphs.values())).pool() if self._graphs else None
        stream = self._capture_stream
        current = torch.cuda.current_stream(self.device)
        stream.wait_stream(current)
        try:
            for group, lr in zip(groups, self._lr_tensors):
                group["lr"] = lr
            # torch.cuda.graph() would also synchronise and empty the
            # allocator's cache: a cost per fit that the capture needs not.
            with torch.cuda.stream(stream):
                graph.capture_begin(pool=pool, capture_error_mode="thread_local")
                try:
                    self._captured_step(size)
                finally:
                    graph.capture_end()
        except Exception as exc:  # noqa: BLE001 - any failure means "run eagerly"
            self.fallback_reason = f"capture failed: {type(exc).__name__}: {exc}"
            self._graphs = {}
            self.optimizer.zero_grad(set_to_none=True)
            return None
        finally:
            for group, lr in zip(groups, learning_rates):
                group["lr"] = lr
            current.wait_stream(stream)
        self._graphs[size] = graph
        self._graph_key = self._key()
        self.n_captures += 1
        return graph

    def _sync_learning_rates(self):
        """Copy each group's learning rate into the tensor the graph reads."""
        groups = self.optimizer.param_groups
        for _ in range(len(self._lr_tensors), len(groups)):  # add_param_group
            self._lr_tensors.append(torch.zeros((), dtype=torch.float32, device=self.device))
            self._lr_values.append(None)
        for i, group in enumerate(groups):
            lr = group["lr"]
            if isinstance(lr, torch.Tensor):
                self._lr_tensors[i].copy_(lr)
                self._lr_values[i] = None
            elif lr != self._lr_values[i]:
                self._lr_tensors[i].fill_(lr)
                self._lr_values[i] = lr

    def _key(self):
        """What the graph depends on besides the learning rates."""
        groups = []
        for group in self.optimizer.param_groups:
            settings = tuple(
                (name, value)
                for name, value in sorted(group.items())
                if name not in ("params", "lr") and not isinstance(value, torch.Tensor)
            )
            tensors = []
            for param in group["params"]:
                tensors.append(param.data_ptr())
                state = self.optimizer.state.get(param, {})
                tensors.extend(
                    value.data_ptr()
                    for _, value in sorted(state.items())
                    if isinstance(value, torch.Tensor)
                )
            groups.append((settings, tuple(tensors)))
        return (self.batch_size, self.precision, tuple(groups))
