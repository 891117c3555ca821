"""
Denoising with Gaussian and with dropout noise
==============================================

A denoising autoencoder sees corrupted inputs during training and must
reconstruct the clean ones, so it cannot simply copy its input: it has to
learn what digits look like (Vincent et al., 2008). skae's
:class:`~skae.DenoisingAutoencoder` corrupts each batch in one of two ways:

* ``noise="gaussian"``: adds ``noise_level`` times standard normal noise to
  every pixel;
* ``noise="dropout"``: zeroes each pixel with probability ``noise_level``
  (and scales the others by ``1 / (1 - noise_level)``, as
  :class:`torch.nn.Dropout`).

Here the 8x8 digits (pixels in [0, 1]) are corrupted at a moderate level,
0.3, and a strong one, 0.6, where the digits are hard to read. Each
denoising autoencoder is trained at the level it is tested on, and compared
with the same autoencoder trained on clean digits only.
"""

# %%
# Corruption, as in training
# --------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import Autoencoder, DenoisingAutoencoder
from skae.plotting import plot_image_rows

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=450, random_state=0, stratify=y)
rng = np.random.RandomState(0)


def corrupt(X, noise, level):
    if noise == "gaussian":
        return X + level * rng.randn(*X.shape)
    keep = rng.uniform(size=X.shape) >= level
    return X * keep / (1 - level)


# %%
# Fit one plain and four denoising autoencoders
# ---------------------------------------------
# All are 64-128-32-128-64 nets with a sigmoid output, trained for 60 epochs
# (cosine-annealed learning rate) on 1,347 digits.
settings = dict(n_components=32, hidden_layer_sizes=(128,), output_activation="sigmoid",
                learning_rate=0.003, learning_rate_schedule="cosine", max_epochs=60,
                random_state=0)
plain = Autoencoder(**settings).fit(X_train)
conditions = [(noise, level) for noise in ("gaussian", "dropout") for level in (0.3, 0.6)]
denoisers = {
    (noise, level): DenoisingAutoencoder(noise=noise, noise_level=level, **settings).fit(X_train)
    for noise, level in conditions
}


def error_against_clean(model, X_noisy):
    return np.mean((model.inverse_transform(model.transform(X_noisy)) - X_test) ** 2)


noisy_test = {condition: corrupt(X_test, *condition) for condition in conditions}
errors = {}
for condition in conditions:
    errors[condition] = (error_against_clean(plain, noisy_test[condition]),
                         error_against_clean(denoisers[condition], noisy_test[condition]))
    print(f"{condition[0]:>8} noise {condition[1]}: MSE to the clean digits, "
          f"plain autoencoder {errors[condition][0]:.4f}, "
          f"denoising autoencoder {errors[condition][1]:.4f}")

# %%
# The strong-noise case, 0.6
# --------------------------
# Ten held-out digits, corrupted, and what each model makes of them. The
# plain autoencoder, which never saw noise, passes much of the noise
# through; the denoising ones return clean, if blurred, digits.
first_of_class = [np.flatnonzero(y_test == digit)[0] for digit in range(10)]
rows, labels = [X_test[first_of_class]], ["clean"]
for noise in ("gaussian", "dropout"):
    noisy = noisy_test[(noise, 0.6)][first_of_class]
    denoiser = denoisers[(noise, 0.6)]
    rows += [noisy,
             plain.inverse_transform(plain.transform(noisy)),
             denoiser.inverse_transform(denoiser.transform(noisy))]
    labels += [f"{noise} noise 0.6", "plain AE", f"denoising AE\n({noise} 0.6)"]
fig, _ = plot_image_rows(rows, (8, 8), labels,
                         title="Held-out digits under strong noise, 32-unit codes "
                               "(grey scale clipped to [0, 1])")
fig.subplots_adjust(left=0.18, top=0.92)

# %%
# Error against the clean digits
# ------------------------------
# Mean squared error between each model's output on the corrupted test
# digits and the clean digits.
fig, ax = plt.subplots(figsize=(7, 3.8))
positions = np.arange(len(conditions))
ax.bar(positions - 0.2, [errors[c][0] for c in conditions], width=0.4,
       label="autoencoder trained on clean digits")
ax.bar(positions + 0.2, [errors[c][1] for c in conditions], width=0.4,
       label="denoising autoencoder trained at that noise")
ax.set_xticks(positions, [f"{noise}\n{level}" for noise, level in conditions])
ax.set_xlabel("corruption of the 450 test digits")
ax.set_ylabel("MSE to the clean digits")
ax.set_title("Denoising the 8x8 digits (code size 32)")
ax.set_ylim(0, 1.3 * max(max(pair) for pair in errors.values()))
ax.legend(fontsize="small", loc="upper left")
fig.tight_layout()

# sphinx_gallery_thumbnail_number = 1
