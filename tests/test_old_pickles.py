"""Pickles written before the engine's layout changed still load and transform alike.

``tests/data/models_0_1_0_before_engine_split.pkl`` was written by the code
of commit 7e75f47 (an Autoencoder, a DenoisingAutoencoder and an
AutoencoderOutlierDetector over an Autoencoder, fitted on 50 rows), with the
outputs they gave there.
"""

import pickle
from pathlib import Path

import numpy as np

PICKLE = Path(__file__).parent / "data" / "models_0_1_0_before_engine_split.pkl"


def test_models_pickled_before_the_split_load_and_give_their_outputs():
    saved = pickle.loads(PICKLE.read_bytes())
    X = saved["X"]
    for name, model in saved["models"].items():
        output = model.transform(X) if hasattr(model, "transform") else model.score_samples(X)
        np.testing.assert_allclose(output, saved["expected"][name], rtol=1e-6, atol=1e-9,
                                   err_msg=name)
    # They train on: partial_fit runs on the current engine.
    saved["models"]["autoencoder"].partial_fit(X)
