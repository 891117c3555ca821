"""
Swapping PCA for an autoencoder in a grid search
================================================

skae's autoencoders are scikit-learn transformers, so a step of a
:class:`~sklearn.pipeline.Pipeline` that holds a
:class:`~sklearn.decomposition.PCA` can hold an autoencoder instead, and
:class:`~sklearn.model_selection.GridSearchCV` can choose between them as
it chooses any other parameter. Here a pipeline reduces the 8x8 digits to a
few features and classifies them with logistic regression; the grid tries
PCA and a nonlinear :class:`~skae.Autoencoder` at three code sizes, by
3-fold cross-validation.
"""

# %%
# The pipeline and the grid
# -------------------------
# The ``reduce`` step is itself a parameter of the grid.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from skae import Autoencoder

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=450, random_state=0, stratify=y)

pipeline = Pipeline([("reduce", PCA()), ("classify", LogisticRegression(max_iter=2000))])
autoencoder = Autoencoder(hidden_layer_sizes=(64,), learning_rate=0.01,
                          learning_rate_schedule="cosine", max_epochs=30, random_state=0)
code_sizes = [2, 4, 8]
grid = GridSearchCV(
    pipeline,
    {"reduce": [PCA(), autoencoder], "reduce__n_components": code_sizes},
    cv=3,
)
grid.fit(X_train, y_train)
best = grid.best_params_
print(f"best: {type(best['reduce']).__name__} with {best['reduce__n_components']} "
      f"components, cross-validated accuracy {grid.best_score_:.3f}, "
      f"test accuracy {grid.score(X_test, y_test):.3f}")

# %%
# Accuracy against the code size
# -------------------------------
# The mean accuracy over the three folds (the bars span the folds). With
# very few features the autoencoder's nonlinear codes separate the classes
# better than PCA's linear projection; with more, the two converge.
results = grid.cv_results_
fig, ax = plt.subplots(figsize=(6.5, 4))
for reducer, label in [("PCA", "PCA"), ("Autoencoder", "Autoencoder 64-64-k")]:
    rows = [i for i, params in enumerate(results["params"])
            if type(params["reduce"]).__name__ == reducer]
    sizes = [results["params"][i]["reduce__n_components"] for i in rows]
    folds = np.array([[results[f"split{k}_test_score"][i] for k in range(3)] for i in rows])
    mean = folds.mean(axis=1)
    ax.errorbar(sizes, mean, yerr=[mean - folds.min(axis=1), folds.max(axis=1) - mean],
                marker="o", capsize=3, label=label)
ax.set_xticks(code_sizes)
ax.set_xlabel("n_components (features passed to the classifier)")
ax.set_ylabel("3-fold cross-validated accuracy")
ax.set_title("Digits (8x8): reduce, then logistic regression")
ax.legend()
fig.tight_layout()

# %%
# Without labels
# --------------
# ``score`` of a skae autoencoder is minus its mean reconstruction error,
# so a grid search can also tune an autoencoder with no ``y`` at all, as
# it would a density model. Here it picks the width of the hidden layer of
# an 8-unit autoencoder by the held-out reconstruction error (mean squared
# error per pixel).
unsupervised = GridSearchCV(clone(autoencoder).set_params(n_components=8),
                            {"hidden_layer_sizes": [(16,), (64,), (256,)]}, cv=3)
unsupervised.fit(X_train)
print("reconstruction error by hidden layer:",
      {str(p["hidden_layer_sizes"]): round(float(-s), 4) for p, s in
       zip(unsupervised.cv_results_["params"], unsupervised.cv_results_["mean_test_score"])})
print("chosen:", unsupervised.best_params_["hidden_layer_sizes"])
