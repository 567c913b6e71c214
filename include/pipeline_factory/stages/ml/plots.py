"""The promotion's evidence as pictures: what a reviewer would rather look at than read.

Drawn with matplotlib's headless Agg backend from the very predictions the
metrics come from (candidate and champion on the same rows):

- ``confusion_<model>.png``: confusion matrices, candidate and champion side by side;
- ``roc_pr_<model>.png``: ROC and precision-recall curves of both, per classifier;
- ``pred_vs_actual_<model>.png``: predicted against actual, per regressor;
- ``importance_<model>.png``: the lead model's 20 most important features (gain);
- ``history_<metric>.png``: the lead metric of every registered version, the champion marked.

Each function returns the file it wrote; :func:`render_all` draws every one
that applies and returns ``{file name: title}`` in display order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TOP_FEATURES = 20
CANDIDATE_COLOUR = "#1f77b4"
CHAMPION_COLOUR = "#ff7f0e"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def confusion(name: str, candidate: Mapping[str, Any], champion: Mapping[str, Any] | None, out: Path) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    plt = _pyplot()
    shown = [("candidate", candidate)] + ([("champion", champion)] if champion else [])
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.4), squeeze=False)
    labels = list(range(len(candidate["classes"])))
    for ax, (whose, pred) in zip(axes[0], shown, strict=True):
        matrix = confusion_matrix(pred["y_true"], pred["y_pred"], labels=labels)
        ConfusionMatrixDisplay(matrix, display_labels=candidate["classes"]).plot(ax=ax, colorbar=False,
                                                                                 cmap="Blues")
        ax.set_title(f"{whose} ({len(pred['y_true'])} rows)")
    fig.suptitle(f"{name}: confusion matrix on the same rows", fontsize=10)
    return _save(fig, out / f"confusion_{name}.png")


def roc_pr(name: str, candidate: Mapping[str, Any], champion: Mapping[str, Any] | None, out: Path) -> Path:
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _pyplot()
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(7.6, 3.4))
    for whose, pred, colour in (("candidate", candidate, CANDIDATE_COLOUR), ("champion", champion, CHAMPION_COLOUR)):
        if not pred or len(set(pred["y_true"].tolist())) < 2:
            continue
        fpr, tpr, _ = roc_curve(pred["y_true"], pred["proba"])
        roc_ax.plot(fpr, tpr, color=colour, label=f"{whose} AUC {auc(fpr, tpr):.3f}")
        precision, recall, _ = precision_recall_curve(pred["y_true"], pred["proba"])
        pr_ax.plot(recall, precision, color=colour, label=whose)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall")
    for ax in (roc_ax, pr_ax):
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{name} (positive class: {candidate['classes'][-1]})", fontsize=10)
    return _save(fig, out / f"roc_pr_{name}.png")


def predicted_vs_actual(name: str, candidate: Mapping[str, Any], champion: Mapping[str, Any] | None,
                        out: Path) -> Path:
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.scatter(candidate["y_true"], candidate["y_pred"], s=12, color=CANDIDATE_COLOUR, label="candidate", alpha=0.8)
    if champion:
        ax.scatter(champion["y_true"], champion["y_pred"], s=12, color=CHAMPION_COLOUR, label="champion",
                   alpha=0.6, marker="x")
    values = np.concatenate([candidate["y_true"], candidate["y_pred"]])
    lo, hi = float(values.min()), float(values.max())
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel=f"actual {candidate.get('target', '')}", ylabel="predicted", title=f"{name}")
    ax.legend(fontsize=8)
    return _save(fig, out / f"pred_vs_actual_{name}.png")


def importance(name: str, gains: Mapping[str, float], out: Path, top: int = TOP_FEATURES) -> Path:
    plt = _pyplot()
    ranked = sorted(gains.items(), key=lambda item: item[1], reverse=True)[:top]
    fig, ax = plt.subplots(figsize=(5.4, 0.22 * len(ranked) + 1.0))
    ax.barh([f for f, _ in reversed(ranked)], [g for _, g in reversed(ranked)], color=CANDIDATE_COLOUR)
    ax.set(xlabel="gain", title=f"{name}: top {len(ranked)} features")
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, out / f"importance_{name}.png")


def history(metric: str, points: Sequence[Mapping[str, Any]], out: Path) -> Path:
    """``points``: ``{"version", "value", "champion": bool, "candidate": bool}`` per registered version."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    xs = [int(p["version"]) for p in points]
    ax.plot(xs, [p["value"] for p in points], color="grey", marker="o", linewidth=1)
    for p in points:
        if p.get("champion"):
            ax.scatter([int(p["version"])], [p["value"]], s=140, marker="*", color=CHAMPION_COLOUR, zorder=3,
                       label="champion")
        if p.get("candidate"):
            ax.scatter([int(p["version"])], [p["value"]], s=70, facecolors="none", edgecolors=CANDIDATE_COLOUR,
                       linewidths=2, zorder=4, label="this run")
    ax.set(xlabel="registered version", ylabel=metric, title=f"{metric} per version (each on its own test split)")
    ax.set_xticks(xs)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    return _save(fig, out / f"history_{metric}.png")


def render_all(
    out: Path,
    candidate: Mapping[str, Mapping[str, Any]],
    champion: Mapping[str, Mapping[str, Any]] | None,
    *,
    lead_model: str | None,
    importances: Mapping[str, Mapping[str, float]],
    metric: str,
    history_points: Sequence[Mapping[str, Any]],
) -> dict[str, str]:
    """Every plot that applies; ``{file name: title}``. A plot that fails is logged and left out."""
    out.mkdir(parents=True, exist_ok=True)
    champion = champion or {}
    jobs: list[tuple[str, Any]] = []
    for name, pred in candidate.items():
        if pred["task"] == "classify":
            jobs.append((f"{name}: confusion matrices",
                         lambda n=name, p=pred: confusion(n, p, champion.get(n), out)))
            jobs.append((f"{name}: ROC and precision-recall",
                         lambda n=name, p=pred: roc_pr(n, p, champion.get(n), out)))
    for name, pred in candidate.items():
        if pred["task"] == "regress":
            jobs.append((f"{name}: predicted vs actual",
                         lambda n=name, p=pred: predicted_vs_actual(n, p, champion.get(n), out)))
    if lead_model and importances.get(lead_model):
        jobs.append((f"{lead_model}: top {TOP_FEATURES} features",
                     lambda: importance(lead_model, importances[lead_model], out)))
    if history_points:
        jobs.append((f"{metric} across registered versions", lambda: history(metric, history_points, out)))
    drawn: dict[str, str] = {}
    for title, draw in jobs:
        try:
            drawn[draw().name] = title
        except Exception:
            log.warning("plot %r could not be drawn", title, exc_info=True)
    return drawn
