"""
Greedy layer-wise pretraining against end-to-end training
=========================================================

Before deep nets trained well end to end, stacked autoencoders were trained
one layer at a time: the first hidden layer as a shallow autoencoder of the
input, the second as a shallow autoencoder of the first layer's codes, and
so on, before fine-tuning the whole stack (Hinton and Salakhutdinov, 2006;
Bengio et al., 2007). ``Autoencoder(pretrain="layerwise")`` does this.

It matters where end-to-end training from random weights stalls: deep
stacks of saturating units (sigmoid, tanh) and little data. Here a stack
64-64-32-16-8 (and its mirror) of sigmoid units learns from only 500 of the
8x8 digits. With one or two ReLU layers and Adam, pretraining mostly costs
time.
"""

# %%
# Three fits of the same net
# --------------------------
# * end to end, 60 epochs;
# * end to end, 300 epochs: as many epochs as the pretrained model sees in
#   all (4 stages of 60, then 60 of fine-tuning), though its epochs each
#   train the whole stack and cost more;
# * layer-wise pretraining, 60 epochs per stage, then 60 epochs of
#   fine-tuning.
#
# All use Adam with a cosine-annealed learning rate of 0.01.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import Autoencoder
from skae.plotting import plot_image_rows

X = load_digits().data / 16
X_train, X_test = train_test_split(X, train_size=500, random_state=0)

settings = dict(n_components=8, hidden_layer_sizes=(64, 32, 16), activation="sigmoid",
                output_activation="sigmoid", learning_rate=0.01,
                learning_rate_schedule="cosine", random_state=0)
models = {
    "end to end, 60 epochs": Autoencoder(max_epochs=60, **settings),
    "end to end, 300 epochs": Autoencoder(max_epochs=300, **settings),
    "layer-wise 4 x 60, then 60": Autoencoder(max_epochs=60, pretrain="layerwise", **settings),
}
test_mse = {}
for name, model in models.items():
    model.fit(X_train)
    test_mse[name] = np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)
    print(f"{name:>28}: test MSE {test_mse[name]:.4f}")

# %%
# Training curves
# ---------------
# Left, each layer-wise stage's own loss (a shallow autoencoder of the
# previous stage's codes: the curves are not on the same scale as the
# others). Right, the loss of the whole stack per epoch: the pretrained
# stack starts fine-tuning far below where the randomly initialised one
# stalls.
pretrained = models["layer-wise 4 x 60, then 60"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for stage, curve in enumerate(pretrained.pretraining_loss_curves_, start=1):
    axes[0].plot(np.arange(1, len(curve) + 1), curve, label=f"stage {stage}")
axes[0].set_yscale("log")
axes[0].set_xlabel("epoch of the stage")
axes[0].set_ylabel("stage's reconstruction loss")
axes[0].set_title("Layer-wise stages (one shallow autoencoder each)")
axes[0].legend()
for name, model in models.items():
    axes[1].plot(np.arange(1, model.n_iter_ + 1), model.loss_curve_,
                 label=f"{name} (test MSE {test_mse[name]:.4f})")
axes[1].set_yscale("log")
axes[1].set_xlabel("epoch of end-to-end training (fine-tuning)")
axes[1].set_ylabel("training MSE per pixel")
axes[1].set_title("The whole stack 64-64-32-16-8, sigmoid units")
axes[1].legend(fontsize="small")
fig.suptitle("500 training digits (8x8)")
fig.tight_layout()

# %%
# Reconstructions
# ---------------
# Ten held-out digits through each model.
originals = X_test[:10]
fig, _ = plot_image_rows(
    [originals] + [m.inverse_transform(m.transform(originals)) for m in models.values()],
    (8, 8),
    ["original"] + [name.replace(", ", ",\n") for name in models],
    title="Held-out digits rebuilt from 8 codes by the sigmoid stack",
)
fig.subplots_adjust(left=0.2, top=0.88)

# sphinx_gallery_thumbnail_number = 2
