"""Write the skae benchmark report: ``python -m benchmarks [--dataset ...] [--out DIR] [--quick]``.

Sections: LinearAutoencoder vs PCA, t-SNE maps on raw / PCA / autoencoder
codes, UMAP maps (ParametricUMAP against umap-learn; ``--umap-mnist`` adds
the MNIST subset), one check per autoencoder family with reconstructions and samples,
training throughput against a hand-written loop, skorch and sklearn, and
inference speed and memory on large synthetic arrays, anomaly detection, and
model files (``skae.save`` against pickle).
Every number and figure in ``report.md`` comes from this run. ``--scaling``
runs the opt-in scaling study instead (``benchmarks/scaling.py``).
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from . import data as datasets
from . import (anomaly, anomaly_tabular, embeddings, families, inference, linear_vs_pca, memory,
               persistence, throughput, umap_maps)
from ._common import CHUNK_ROWS, WARM_UP_ROWS, log, machine_header, markdown_table


def inference_section(args):
    n_rows = args.synthetic_rows or (50_000 if args.quick else 100_000)
    rounds = 3
    small, large = inference.fitted_autoencoder((256,)), inference.fitted_autoencoder((2048, 1024))
    one_row = inference.one_row([small, large], rounds=3 if args.quick else 5,
                                seconds_per_round=0.1 if args.quick else 0.15)
    many_rows = inference.many_rows(small, n_rows, rounds=rounds)
    return [
        "",
        "## 5. Inference speed",
        "",
        "`transform` of a fitted Autoencoder against a plain PyTorch forward of the same "
        "module: `module_.encode` under `torch.no_grad()`, in float32. torch runs on "
        f"{inference.THREADS} intra-op thread here; contenders take turns in interleaved "
        "rounds after warm-up calls, and times are medians. The SPEC asks for one row within "
        "2x of `encode`, and many rows within 1.3x of the float32 forward.",
        "",
        "One row (a float32 (1, 784) array against a float32 (1, 784) tensor), median "
        "microseconds per call; 'calls timed' is transform / encode:",
        "",
        markdown_table(one_row),
        "",
        f"Many rows: {n_rows:,} x 784 synthetic uniform random rows (not the report's "
        f"dataset), {inference.architecture(small)} net, median of {rounds} rounds. The plain "
        f"forward runs in {CHUNK_ROWS:,}-row chunks into one preallocated output, "
        "without copying X. float64 input is compared with that float32 forward on the float32 "
        "array, and with the same forward run in float64 on a float64 copy of the module "
        "(made outside the timing). The memory these calls add is in section 6.",
        "",
        markdown_table(many_rows),
    ]


def memory_section(args):
    # Not fewer rows with --quick: a call's fixed costs (chunk activations,
    # allocator slack: ~10-20 MB) would then show as cost per byte.
    n_rows = args.synthetic_rows or 100_000
    net = memory.Net()
    if not memory.available():
        return ["", "## 6. Memory", "", "Not measured: this platform has no RssAnon in "
                "/proc/self/status (Linux only)."]
    # X.copy() (the method's calibration) runs in tests/test_memory.py.
    left_out = {"X.copy()"} | ({"sklearn IncrementalPCA.fit"} if args.quick else set())
    rows = memory.compare(n_rows, net=net,
                          contenders=[c for c in memory.CONTENDERS if c not in left_out])
    sizes = [784, *net.hidden_layer_sizes, net.n_components]
    return [
        "",
        "## 6. Memory",
        "",
        "Peak anonymous memory a call adds, in bytes per byte of its input X: "
        f"{n_rows:,} x 784 synthetic uniform random float32 rows "
        f"({n_rows * 784 * 4 / 1e6:.0f} MB). Each contender runs in a fresh process (one "
        "thread, two processes at a time): its setup, one warm-up call on "
        f"{WARM_UP_ROWS:,} rows (one-time costs such as thread pools and BLAS "
        "buffers are not a cost per byte), then the measured call, while a thread reads "
        "RssAnon from /proc/self/status every 2 ms. 'bytes per input byte' is (peak "
        "RssAnon - RssAnon just before the call) / X.nbytes; 'VmHWM check' is the kernel's "
        "own peak RSS over the RSS before the call (it counts mapped files too); 'of which "
        "output' is the returned array. The net is "
        f"{'-'.join(map(str, sizes + sizes[-2::-1]))}, batch {net.batch_size}; the "
        "inference contenders use one fitted in their setup on a few rows. 'float64 X' is "
        "the same rows cast to float64 (twice the input bytes). The SPEC allows `fit` 1.1 "
        "and `transform` 0.1 ('limit'). "
        + ("IncrementalPCA (about 20 s) is left out with --quick." if args.quick else
           "IncrementalPCA's per-batch temporaries do not grow with X, so its figure falls "
           "toward its one copy as rows grow."),
        "",
        markdown_table(rows),
    ]


def anomaly_section(data, args):
    # The MNIST subset's task (0s, 1s and 6s against 9s) is the one the
    # detector's defaults were chosen on; digits when the subset is absent.
    if not args.quick and datasets.MNIST_SUBSET.exists():
        data = datasets.load("mnist-subset")
    rows, skae_scores, note = anomaly.compare(data, seeds=(0,) if args.quick else (0, 1, 2))
    figure = anomaly.plot_extremes(
        data.X_test, skae_scores, data.image_shape, args.out / "anomalies.png",
        title=f"{data.name}: test images skae's detector (defaults, first seed) scores "
              "most and least anomalous",
    )
    return [
        "",
        "## 7. Anomaly detection",
        "",
        f"On {data.name}: the detectors train on the training rows of every class but "
        f"{anomaly.ANOMALY_CLASS} and score all test rows; the test rows of class "
        f"{anomaly.ANOMALY_CLASS} are the anomalies. ROC AUC of minus each detector's "
        "`score_samples` (pyod: minus its `decision_function`; encdr: minus the mean "
        "squared error of its `predict`, the reconstruction), over "
        f"{1 if args.quick else 3} seed(s) (1 ranks every anomaly first); times are "
        "medians. " + (f"{note[0].upper()}{note[1:]}. " if note else ""),
        "",
        markdown_table(rows),
        "",
        "Test images skae's detector finds most and least anomalous (first seed):",
        "",
        f"![anomalies]({figure.name})",
    ] + (["", "### Tabular anomaly suite", "", *anomaly_tabular.report(log=log)]
         if args.anomaly_suite else [])


def tsne_section(data, args):
    """t-SNE maps of all rows (raw, PCA, autoencoder codes), and maps of new points."""
    X_all = np.vstack([data.X_train, data.X_test])
    y_all = np.concatenate([data.y_train, data.y_test])
    maps = embeddings.maps(X_all, y_all, n_components=8)
    embeddings.plot(maps, y_all, args.out / "tsne_maps.png",
                    title=f"{data.name}, all {len(X_all):,} rows, mapped to 2-D; colour: class")
    lines = [
        "",
        "## 2. Autoencoder + t-SNE vs PCA + t-SNE vs t-SNE",
        "",
        "All rows of the data mapped to 2-D. Trustworthiness (5 neighbours) measures how "
        "well the map keeps the data's neighbourhoods; 5-NN accuracy is 5-fold "
        "cross-validated on the 2-D map; wall time includes fitting the reducer.",
        "",
        markdown_table(maps),
        "",
        "![t-SNE maps](tsne_maps.png)",
        "",
        "### New points: sklearn TSNE, openTSNE and ParametricTSNE",
        "",
        "Fitted on the training rows, then asked to place the held-out rows. Each method "
        "maps the raw data and the codes of an autoencoder (8 codes, one hidden layer of "
        "128, fitted on the training rows; its fit time is not in the table). "
        "'trustworthiness (train)' is that of the training map; '(held-out)' that of the "
        "held-out rows' map (their 5 neighbours among themselves); '5-NN accuracy "
        "(held-out)' labels each held-out point by a 5-nearest-neighbour vote among the "
        "training map's points. 'fit' is wall time on this machine's cores (sklearn and "
        "openTSNE with n_jobs=2, torch with its default threads); "
        f"'place {embeddings.PLACED_ROWS:,}' is the time to map "
        f"{embeddings.PLACED_ROWS:,} rows drawn from the held-out rows, as float32, with a "
        "fitted map (openTSNE's `transform` optimises them against the fixed map; "
        "ParametricTSNE's is one forward pass; sklearn's TSNE has no `transform`; after an "
        "untimed call and a 0.5 s pause, the median of up to 7 calls when they are fast). "
        "Defaults everywhere "
        "(ParametricTSNE on the CPU). The targets: training trustworthiness within 0.01 of "
        "sklearn TSNE's, held-out trustworthiness and accuracy at least openTSNE's, "
        "placing at least 100x faster than openTSNE, fit no slower than sklearn TSNE on "
        "the MNIST subset.",
    ]
    runs = [data]
    if not args.quick and datasets.MNIST_SUBSET.exists() and data.X_train.shape[1] != 784:
        runs.append(datasets.load("mnist-subset"))
    for number, run in enumerate(runs):
        seeds = (0,) if args.quick else (0, 1, 2)
        rows, spread, new_maps, note, _ = embeddings.new_point_maps(
            run, random_state=seeds[0], more_seeds=seeds[1:])
        figure = args.out / f"tsne_new_points_{number}.png"
        embeddings.plot_new_points(
            new_maps, run.y_train, run.y_test, figure,
            title=f"{run.name}: maps of the training rows, held-out rows placed on them",
        )
        lines += [
            "",
            f"{run.name}: {len(run.X_train)} training and {len(run.X_test)} held-out rows"
            + (f" ({note}: not compared)" if note else "") + ".",
            "",
            markdown_table(rows),
            "",
        ]
        if spread:
            lines += [
                "Held-out scores of the methods that place new points, over seeds "
                f"{', '.join(map(str, seeds))} (the same autoencoder codes): "
                "mean (min-max).",
                "",
                markdown_table(spread),
                "",
            ]
        lines += [f"![maps of new points, {run.name}]({figure.name})"]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits",
                        help="'digits' (default), 'mnist-subset', or a path to an .npz file")
    parser.add_argument("--out", default="benchmark-report", type=Path,
                        help="output folder (default: benchmark-report)")
    parser.add_argument("--quick", action="store_true", help="fewer settings and epochs")
    parser.add_argument("--synthetic-rows", type=int, default=None, metavar="N",
                        help="rows of the synthetic arrays of the inference and memory "
                             "sections (default 100000; inference 50000 with --quick), "
                             "e.g. 500000")
    parser.add_argument("--anomaly-suite", action="store_true",
                        help="add the tabular anomaly suite to section 7 "
                             "(benchmarks/anomaly_tabular.py; about 10 minutes on 2 cores)")
    parser.add_argument("--umap-mnist", action="store_true",
                        help="add the MNIST subset to the UMAP section's comparison with "
                             "umap-learn (about 1.5 minutes more on 2 cores)")
    parser.add_argument("--scaling", action="store_true",
                        help="instead of the report, run the opt-in scaling study "
                             "(benchmarks/scaling.py: time and memory against rows, a 9 GB "
                             "memmap, shuffle quality; about 10 minutes) into OUT/scaling.md")
    args = parser.parse_args(argv)
    if args.scaling:
        from . import scaling

        scaling.main(["--out", str(args.out / "scaling.md")])
        return

    import matplotlib

    matplotlib.use("Agg")
    warnings.filterwarnings("ignore", category=FutureWarning)
    args.out.mkdir(parents=True, exist_ok=True)
    data = datasets.load(args.dataset)
    started = time.perf_counter()
    sections = [
        "# skae benchmark report",
        "",
        machine_header(),
        f"- data: {data.name}; {len(data.X_train)} training and {len(data.X_test)} test rows, "
        f"{data.X_train.shape[1]} features scaled to [0, 1]",
    ]
    if data.note:
        sections.append(f"- note: {data.note}")

    log("1/8 LinearAutoencoder vs PCA")
    grid = (2, 8) if args.quick else (2, 4, 8, 16, 32)
    grid = tuple(k for k in grid if k <= data.X_train.shape[1])
    rows = linear_vs_pca.compare(data.X_train, data.X_test, grid,
                                 nonlinear_epochs=30 if args.quick else 200)
    linear_vs_pca.plot(rows, args.out / "linear_vs_pca.png", data.name)
    sections += [
        "",
        "## 1. LinearAutoencoder vs PCA",
        "",
        "LinearAutoencoder with its default settings, trained by gradient descent from a "
        "random initialisation, against PCA's closed form (the Eckart–Young bound on the "
        "training error). The largest principal angle compares the two subspaces; where "
        "the spectrum has near-equal eigenvalues at the cut, a large angle costs little "
        "error. 'deep AE' is a nonlinear Autoencoder with one hidden layer of 128.",
        "",
        markdown_table(rows, ["n_components", "PCA train MSE", "linear AE train MSE",
                              "linear AE / PCA", "largest angle (deg)", "linear AE epochs"]),
        "",
        markdown_table(rows, ["n_components", "PCA test MSE", "linear AE test MSE",
                              "deep AE test MSE", "PCA fit (s)", "linear AE fit (s)",
                              "deep AE fit (s)", "PCA transform (s)",
                              "linear AE transform (s)"]),
        "",
        "![MSE vs n_components](linear_vs_pca.png)",
    ]
    mnist = None
    if not args.quick and datasets.MNIST_SUBSET.exists():
        subset = datasets.load("mnist-subset")
        mnist = (subset.X_train, subset.X_test)
    drop_in = linear_vs_pca.drop_in_cases(mnist=mnist)
    sections += [
        "",
        "As a drop-in for PCA, on iris, digits, the MNIST subset (unless --quick) and 15 "
        "rows of 100 features (rank 5 plus noise; 500 held-out rows): reconstruction error "
        "of LinearAutoencoder's defaults divided by PCA's.",
        "",
        markdown_table(drop_in),
    ]

    log("2/8 t-SNE maps")
    sections += tsne_section(data, args)
    log("2b/8 UMAP maps")
    sections += umap_maps.section(data, args)

    log("3/8 autoencoder families")
    family_rows, figures = families.run(data, epochs=10 if args.quick else 50)
    paths = families.save_figures(figures, data.image_shape, args.out)
    sections += [
        "",
        "## 3. Reconstructions, denoising, sparsity, generation, pretraining",
        "",
        "Each family's job, measured on held-out rows.",
        "",
        markdown_table(family_rows),
        "",
        "Test images and their reconstructions:",
        "",
        f"![reconstructions]({paths['reconstructions'].name})",
        "",
        "Denoising:",
        "",
        f"![denoising]({paths['denoising'].name})",
        "",
        "Samples of the VariationalAutoencoder (decoded draws from the prior):",
        "",
        f"![VAE samples]({paths['vae_samples'].name})",
    ]

    log("4/8 training throughput")
    sections += throughput.section(data, args.quick)

    log("5/8 inference speed")
    sections += inference_section(args)
    log("6/8 memory")
    sections += memory_section(args)

    log("7/8 anomaly detection")
    sections += anomaly_section(data, args)

    log("8/8 model files")
    sections += ["", persistence.report(persistence.run(rounds=5 if args.quick else 15))
                 .replace("## Model files", "## 8. Model files", 1)]

    sections += ["", f"Report written in {time.perf_counter() - started:.0f} s."]
    report = args.out / "report.md"
    report.write_text("\n".join(sections) + "\n")
    log(f"wrote {report}")
    print(report.read_text())


if __name__ == "__main__":
    main()
