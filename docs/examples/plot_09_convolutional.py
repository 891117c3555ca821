"""
A convolutional autoencoder for images
======================================

A dense autoencoder treats an image as a list of unrelated pixels; a
convolutional one slides small shared filters over it, so it knows which
pixels are neighbours and learns local strokes once for every position.
:class:`~skae.ConvolutionalAutoencoder` stacks convolution + max-pooling
blocks (each halves height and width) and a dense coding layer, and
decodes with upsampling + convolution blocks back to the image.

Here it compresses the 8x8 digits to 12 numbers, next to a dense
:class:`~skae.Autoencoder` with the same code size. Rows of 64 pixels are
read as 1x8x8 images (``image_shape=(1, 8, 8)``).
"""

# %%
# Fit a convolutional and a dense autoencoder
# -------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import Autoencoder, ConvolutionalAutoencoder
from skae.plotting import plot_image_rows

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=450, random_state=0, stratify=y)

training = dict(output_activation="sigmoid", learning_rate=0.01,
                learning_rate_schedule="cosine", max_epochs=40, random_state=0)
models = {
    "convolutional (16, 32 channels)": ConvolutionalAutoencoder(
        n_components=12, image_shape=(1, 8, 8), channels=(16, 32), **training),
    "dense 64-128-12": Autoencoder(n_components=12, hidden_layer_sizes=(128,), **training),
}
test_mse, n_parameters = {}, {}
for name, model in models.items():
    model.fit(X_train)
    test_mse[name] = np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)
    n_parameters[name] = sum(p.numel() for p in model.module_.parameters())
    print(f"{name:>32}: {n_parameters[name]:6d} parameters, test MSE {test_mse[name]:.4f}")

print("The convolutional encoder:")
print(models["convolutional (16, 32 channels)"].module_.encoder)

# %%
# On images this small there is little local structure to exploit: the
# convolutional net comes close to the dense one's error with about a third
# fewer parameters, and its weights do not grow with the image (a dense
# first layer on 28x28 images has 12 times as many weights as on 8x8 ones,
# a convolution the same number).
#
# Reconstructions
# ---------------
# Ten held-out digits rebuilt from 12 codes by each model.
first_of_class = [np.flatnonzero(y_test == digit)[0] for digit in range(10)]
originals = X_test[first_of_class]
fig, _ = plot_image_rows(
    [originals] + [m.inverse_transform(m.transform(originals)) for m in models.values()],
    (8, 8),
    ["original"] + [f"{name.split(' ')[0]}\nMSE {test_mse[name]:.4f}" for name in models],
    title="Held-out 8x8 digits rebuilt from 12 codes (MSE over all 450 test images)",
)
fig.subplots_adjust(left=0.16, top=0.85)

# %%
# Training curves
# ---------------
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for name, model in models.items():
    ax.plot(np.arange(1, model.n_iter_ + 1), model.loss_curve_,
            label=f"{name}: {n_parameters[name]:,} parameters")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training MSE per pixel")
ax.set_title("8x8 digits, 1,347 training images, 12 coding units")
ax.legend(fontsize="small")
fig.tight_layout()
