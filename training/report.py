"""Training reports: report.json, a confusion-matrix PNG and a defect-score histogram PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on a line-side PC or CI
    import matplotlib.pyplot as plt

    return plt


def confusion_png(matrix: list[list[int]], classes: list[str], path: Path, title: str) -> None:
    plt = _pyplot()
    cm = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2, 1.1 * len(classes) + 1.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def score_histogram_png(scores: np.ndarray, is_defect: np.ndarray, thresholds: dict, path: Path,
                        title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 41)
    ax.hist(scores[~is_defect], bins=bins, alpha=0.6, label=f"good (n={int((~is_defect).sum())})")
    ax.hist(scores[is_defect], bins=bins, alpha=0.6, label=f"defect (n={int(is_defect.sum())})")
    for name, value in thresholds.items():
        ax.axvline(value, linestyle="--", color="k" if name == "ng" else "gray", label=f"{name} {value:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("defect score (1 - p(good))")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(folder: Path, report: dict) -> None:
    (Path(folder) / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
