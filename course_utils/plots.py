"""Figures and HTML views for explanations. Every function returns what it draws.

Figures are returned (not only shown) so notebooks can save them and tests can inspect
them. HTML views escape the text they show: a review containing `<script>` is displayed
as text, never run (captum's `visualize_text` does not escape, captum#1226).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from IPython.display import HTML
from matplotlib.figure import Figure

POSITIVE_COLOUR = "#d95f02"  # orange: pushes towards the explained class
NEGATIVE_COLOUR = "#1b9e77"  # teal: pushes away from it

WordWeights = Sequence[tuple[str, float]]


def _pairs(explanation: WordWeights | Mapping[str, float]) -> list[tuple[str, float]]:
    items = explanation.items() if isinstance(explanation, Mapping) else explanation
    return [(str(word), float(weight)) for word, weight in items]


def plot_token_importance(
    explanation: WordWeights | Mapping[str, float],
    title: str = "Token importance",
    xlabel: str = "surrogate weight",
    ax: plt.Axes | None = None,
) -> Figure:
    """Horizontal bars, one per word, in the given order (first on top), coloured by sign."""
    pairs = _pairs(explanation)
    if not pairs:
        raise ValueError("nothing to plot: the explanation is empty")
    words, weights = zip(*pairs)
    colours = [POSITIVE_COLOUR if w > 0 else NEGATIVE_COLOUR for w in weights]
    # Signed scores (LIME): say what the colours mean.
    legend = ([Patch(color=POSITIVE_COLOUR, label="raises the probability"), Patch(color=NEGATIVE_COLOUR, label="lowers it")]
              if min(weights) < 0 else [])
    ax = _bars(words, weights, colours, title, xlabel, ax, legend)
    ax.axvline(0, color="black", linewidth=0.8)
    return ax.figure


def _bars(words, weights, colours, title: str, xlabel: str, ax: plt.Axes | None, legend: list[Patch]) -> plt.Axes:
    """Horizontal bars, the first word on top, with their labels, title and legend (if any)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(words) + 1.2))
    ax.barh(range(len(words)), weights, color=colours)
    ax.set_yticks(range(len(words)), labels=words)
    # The first (most important) word on top. Set, not toggled: invert_yaxis() on axes that
    # share y (side-by-side panels) would flip them back and forth.
    ax.set_ylim(len(words) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if legend:
        ax.legend(handles=legend, fontsize="small", loc="lower right")
    ax.figure.tight_layout()
    return ax


def plot_weights_by_parameter(
    explanations: Mapping[float, WordWeights | Mapping[str, float]],
    parameter: str = "sigma",
    title: str | None = None,
    log_x: bool = True,
) -> Figure:
    """One line per word: its weight in each explanation against the parameter's value.

    `explanations` maps a parameter value (e.g. a kernel width) to an explanation.
    """
    if not explanations:
        raise ValueError("nothing to plot: no explanations given")
    values = sorted(explanations)
    tables = {v: dict(_pairs(explanations[v])) for v in values}
    words = list(dict.fromkeys(w for v in values for w in tables[v]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for word in words:
        ax.plot(values, [tables[v].get(word, np.nan) for v in values], marker="o", label=word)
    if log_x:
        ax.set_xscale("log")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel(parameter)
    ax.set_ylabel("weight")
    ax.set_title(title or f"Explanation weights as {parameter} changes")
    ax.legend(fontsize="small", ncol=2, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


def plot_curve(
    x: Sequence[float],
    y: Sequence[float] | Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    title: str,
    log_x: bool = False,
    log_y: bool = False,
) -> Figure:
    """A labelled line with markers (e.g. agreement against sample count).

    ``y`` is one series, or a mapping ``label -> series`` for several lines with a legend.
    """
    series = dict(y) if isinstance(y, Mapping) else {None: y}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, values in series.items():
        if len(values) != len(x):
            raise ValueError(f"{len(x)} x values but {len(values)} y values" + (f" for {label!r}" if label else ""))
        ax.plot(x, values, marker="o", label=label)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if isinstance(y, Mapping):
        ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def highlight_html(words: Sequence[str], weights: Sequence[float]) -> HTML:
    """Words on coloured backgrounds (orange = positive weight, teal = negative).

    The colour's strength is |weight| relative to the largest |weight|. Text is escaped.
    """
    if len(words) != len(weights):
        raise ValueError(f"{len(words)} words but {len(weights)} weights")
    weights = np.asarray(weights, dtype=float)
    scale = np.abs(weights).max() if len(weights) and np.abs(weights).max() > 0 else 1.0
    spans = []
    for word, weight in zip(words, weights):
        colour = POSITIVE_COLOUR if weight > 0 else NEGATIVE_COLOUR
        alpha = int(round(255 * min(1.0, abs(weight) / scale)))
        spans.append(
            f'<span title="{weight:+.3f}" style="background:{colour}{alpha:02x};'
            f'padding:1px 3px;margin:1px;border-radius:3px">{html.escape(str(word))}</span>'
        )
    legend = (f'<div style="font-size:smaller">background: <span style="background:{POSITIVE_COLOUR}80">'
              f'raises the probability</span> · <span style="background:{NEGATIVE_COLOUR}80">lowers it</span>'
              " · stronger colour = larger |weight| (hover for the value)</div>")
    return HTML('<div style="line-height:2">' + " ".join(spans) + "</div>" + legend)


def visualize_text_escaped(records: Sequence, legend: bool = True) -> HTML:
    """captum's ``visualize_text`` on escaped copies of ``records``; displays and returns the HTML.

    ``records`` are ``captum.attr.visualization.VisualizationDataRecord``s. captum pastes
    tokens and labels into its HTML as they are (captum#1226), so a text containing
    ``<script>`` would run; here every token and label is escaped first.
    """
    import copy

    from captum.attr import visualization

    def escaped(value):
        return html.escape(value) if isinstance(value, str) else value

    safe = []
    for record in records:
        if not isinstance(record, visualization.VisualizationDataRecord):
            raise TypeError(f"expected captum VisualizationDataRecords, got {type(record).__name__}")
        record = copy.copy(record)
        record.raw_input_ids = [html.escape(str(token)) for token in record.raw_input_ids]
        for name in ("true_class", "pred_class", "attr_class"):
            setattr(record, name, escaped(getattr(record, name)))
        safe.append(record)
    return visualization.visualize_text(safe, legend=legend)


def plot_attention_heatmap(matrix: np.ndarray, labels: Sequence[str], title: str = "Attention") -> Figure:
    """A k × k attention heatmap: row = attending token (from), column = attended token (to)."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
        raise ValueError(f"need a square matrix with one label per row, got {matrix.shape} and {len(labels)} labels")
    size = 0.45 * len(labels) + 2
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("attended to")
    ax.set_ylabel("attending")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention")
    fig.tight_layout()
    return fig


def plot_values(values: Sequence[float], xlabel: str, title: str) -> Figure:
    """One dot per value (jittered vertically) with the mean marked: a spread at a glance."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("nothing to plot: no finite values")
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=values.size)  # fixed: same picture every run
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.scatter(values, jitter, alpha=0.7)
    ax.axvline(values.mean(), color="black", linestyle="--", label=f"mean {values.mean():+.2f}")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_ylim(-0.5, 0.5)
    ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


ATTENTION_COLOUR = "#7f7f7f"  # grey: attention has no sign, it neither raises nor lowers a class


def plot_attention_bars(
    scores: WordWeights | Mapping[str, float],
    title: str = "Attention",
    xlabel: str = "attention weight (a share of 1, no sign)",
    ax: plt.Axes | None = None,
) -> Figure:
    """Horizontal bars of attention weights, one per token or word, in the given order (first on top).

    One neutral colour and a legend that says so: unlike `plot_token_importance`'s orange and teal,
    an attention weight does not push the prediction either way. Negative scores are refused (they
    are not attention: plot signed scores with `plot_token_importance`).
    """
    pairs = _pairs(scores)
    if not pairs:
        raise ValueError("nothing to plot: the scores are empty")
    words, weights = zip(*pairs)
    if min(weights) < 0:
        raise ValueError("attention weights are never negative: plot signed scores with plot_token_importance")
    legend = [Patch(color=ATTENTION_COLOUR, label="attention: no sign, neither for nor against a class")]
    return _bars(words, weights, ATTENTION_COLOUR, title, xlabel, ax, legend).figure


def plot_generation_attribution(
    matrix: np.ndarray, context: Sequence[str], generated: Sequence[str], title: str = "Attribution of each generated token"
) -> Figure:
    """A heatmap of a generated sequence's attributions (Lab 5): row t = generated token t,
    column j = context token j (the prompt's tokens, then the generated ones).

    ``matrix`` is ``[n_new, len(context)]``; row t may only use the columns before
    ``len(context) - n_new + 1 + t`` (its own context): the cells after it are drawn grey,
    whatever they hold. Colours diverge around 0 on a scale symmetric in ±max|value|
    (orange raises the generated token's log-probability, teal lowers it).
    """
    matrix = np.asarray(matrix, dtype=float)
    n_new, width = matrix.shape if matrix.ndim == 2 else (0, 0)
    if matrix.ndim != 2 or width != len(context) or n_new != len(generated):
        raise ValueError(f"need a [{len(generated)}, {len(context)}] matrix (generated x context), got {matrix.shape}")
    first_generated = width - n_new + 1  # column of generated token 0 when it becomes context
    if first_generated < 1:
        raise ValueError(f"{n_new} generated tokens need at least {n_new} context columns, got {width}")
    rows, columns = np.indices(matrix.shape)
    outside = columns >= first_generated + rows  # after row t's context: not an input of token t
    shown = np.ma.masked_array(matrix, mask=outside | ~np.isfinite(matrix))
    scale = float(np.abs(shown).max()) if shown.count() and np.abs(shown).max() > 0 else 1.0
    colours = matplotlib.colors.LinearSegmentedColormap.from_list("signed", [NEGATIVE_COLOUR, "#ffffff", POSITIVE_COLOUR])
    colours.set_bad("#dddddd")
    fig, ax = plt.subplots(figsize=(0.38 * width + 2.5, 0.42 * n_new + 2))
    image = ax.imshow(shown, cmap=colours, vmin=-scale, vmax=scale, aspect="auto")
    ax.set_xticks(range(width), labels=list(context), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n_new), labels=list(generated))
    ax.axvline(first_generated - 0.5, color="black", linewidth=0.8)  # where the prompt ends
    ax.set_xlabel("context token (left of the line: the prompt; right: generated tokens, grey: not yet generated)")
    ax.set_ylabel("generated token")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attribution (log-probability)")
    fig.tight_layout()
    return fig
