"""Ctrl-C during a fit, sent as a real SIGINT to a child process."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")

CHILD = textwrap.dedent(
    """
    import signal, sys, time, warnings
    import numpy as np
    from sklearn.exceptions import NotFittedError
    from skorch.callbacks import Callback
    from skae import Autoencoder, AutoencoderClassifier

    PAUSE = sys.argv[3] == "pause"

    class Announce(Callback):
        paused = False

        def on_train_begin(self, net, **kwargs):
            print("begin", flush=True)
            if PAUSE and not Announce.paused:
                # Training begins and waits for the Ctrl-C, so that it
                # arrives before any epoch ends however fast epochs are.
                Announce.paused = True
                time.sleep(60)

        def on_epoch_end(self, net, **kwargs):
            print("epoch", net.history[-1, "epoch"], flush=True)

    scenario, sigint = sys.argv[1], sys.argv[2]
    # A child started from a background job inherits SIGINT ignored, and
    # Python then never raises KeyboardInterrupt: set Ctrl-C as a terminal
    # delivers it, or ignored on purpose.
    signal.signal(signal.SIGINT,
                  signal.SIG_IGN if sigint == "ignored" else signal.default_int_handler)
    X = np.random.RandomState(0).rand(40000, 64)
    settings = dict(hidden_layer_sizes=(64,), max_epochs=100000, device="cpu", random_state=0)
    if scenario == "stops":
        # Stops by itself after a few epochs: no improvement is ever enough.
        settings.update(n_iter_no_change=3, tol=1e9)
    if scenario == "classifier":
        y = np.arange(len(X)) % 3
        est = AutoencoderClassifier(Autoencoder(4, callbacks=[Announce()], **settings),
                                    max_epochs=100000, device="cpu")
        fit = lambda: est.fit(X, y)
    else:
        pretrain = "layerwise" if scenario == "layerwise" else None
        est = Autoencoder(4, pretrain=pretrain, callbacks=[Announce()], **settings)
        fit = lambda: est.fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit()
            print("RETURNED NORMALLY", flush=True)
        except KeyboardInterrupt as interrupt:
            print("RAISED", type(interrupt).__name__, flush=True)
    for warning in caught:
        print("WARNING", type(warning.message).__name__, warning.message, flush=True)
    try:
        shape = est.predict(X[:3]).shape if scenario == "classifier" else est.transform(X[:3]).shape
        print("FITTED", est.n_iter_, est.loss_curve_ == list(est.history_[:, "train_loss"]),
              shape, flush=True)
    except NotFittedError:
        print("NOT FITTED", sorted(k for k in vars(est) if k.endswith("_")), flush=True)
    """
)


def interrupt_child(scenario, after_line, sigint="default", pause_at_begin=False):
    """Run the child, send SIGINT once it prints ``after_line``; return its output.

    ``sigint`` is the child's own SIGINT handling: "default" (as a terminal
    delivers Ctrl-C) or "ignored" (as under nohup). ``pause_at_begin`` holds
    the first training at its start until the signal comes.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, scenario, sigint, "pause" if pause_at_begin else "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if line.strip() == after_line:
                child.send_signal(signal.SIGINT)
                break
        # One Ctrl-C must end the whole fit promptly: the child takes well
        # under a second on a quiet machine; the limit leaves room for a
        # busy one.
        rest, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    return lines + rest.splitlines()


def test_ctrl_c_after_two_epochs_keeps_the_last_completed_epoch():
    out = interrupt_child("plain", "epoch 2")
    assert "RAISED TrainingInterrupted" in out, out
    (warning,) = [line for line in out if line.startswith("WARNING")]
    assert "TrainingInterruptedWarning" in warning
    fitted = next(line for line in out if line.startswith("FITTED"))
    n_iter = int(fitted.split()[1])
    assert n_iter >= 2
    assert f"at the end of epoch {n_iter}" in warning
    assert fitted.endswith("True (3, 4)")


@pytest.mark.parametrize("scenario", ["plain", "layerwise", "classifier"])
def test_ctrl_c_before_any_epoch_ends_everything_and_fits_nothing(scenario):
    out = interrupt_child(scenario, "begin", pause_at_begin=True)
    assert "RAISED KeyboardInterrupt" in out, out
    assert "RETURNED NORMALLY" not in out
    assert not [line for line in out if line.startswith("epoch")], out
    assert "NOT FITTED []" in out, out


def test_ctrl_c_ignored_by_the_process_changes_nothing():
    # As under nohup: the process ignores SIGINT, so a fit must go on, and
    # end as it would have (here by its own stopping rule), not as if
    # interrupted.
    out = interrupt_child("stops", "epoch 1", sigint="ignored")
    assert "RETURNED NORMALLY" in out, out
    assert not any(line.startswith("WARNING TrainingInterrupted") for line in out), out
    assert next(line for line in out if line.startswith("FITTED")).endswith("True (3, 4)")
