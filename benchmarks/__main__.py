"""Run the benchmark report: ``python -m benchmarks [--quick]``."""

import argparse

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .linear_vs_pca import compare


def markdown_table(rows, columns):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer settings, for a smoke run")
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0, stratify=y)
    grid = (2, 8) if args.quick else (2, 4, 8, 16, 32)
    rows = compare(X_train, X_test, grid)
    print("## LinearAutoencoder vs PCA on digits\n")
    print(
        markdown_table(
            rows,
            ["n_components", "pca_train_mse", "ae_train_mse", "train_ratio",
             "pca_test_mse", "ae_test_mse", "max_angle_deg", "ae_epochs"],
        )
    )


if __name__ == "__main__":
    main()
