"""PNG charts of a month (matplotlib, headless): rankings, on-time trend, overdue by
department, heat map by grid. Each function returns PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

FLAG_COLOURS = {"red": "#d62728", "yellow": "#e6b800", "": "#4c78a8"}
MAX_BARS = 30
plt.rcParams["font.family"] = ["DejaVu Sans"]  # ASCII labels (codes): no CJK font needed


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _empty(title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{title}: no data this month", ha="center", va="center")
    return _png(fig)


def rankings(table: pd.DataFrame, title: str) -> bytes:
    """Scores, best at the top, coloured by flag (ranked units only, at most MAX_BARS)."""
    t = table[table["rank"].notna()].sort_values("rank").head(MAX_BARS)
    if t.empty:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(t) + 1.2))
    colours = [FLAG_COLOURS.get(f, FLAG_COLOURS[""]) for f in t["flag"]]
    ax.barh(list(t.index.astype(str))[::-1], t["score"].to_numpy()[::-1], color=colours[::-1])
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (0–100)")
    ax.set_title(title)
    return _png(fig)


def on_time_trend(trend: pd.DataFrame, month: str) -> bytes:
    """Closures per day (bars) and the share handled on time (line)."""
    if trend.empty:
        return _empty("On-time closures")
    fig, ax = plt.subplots(figsize=(8, 3))
    days = pd.to_datetime(trend["day"])
    ax.bar(days, trend["closed"], color="#c6dbef", label="closed")
    ax.set_ylabel("cases closed")
    ax2 = ax.twinx()
    ax2.plot(days, 100 * trend["on_time_rate"], color="#08519c", marker="o", label="on time %")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("handled on time (%)")
    ax.set_title(f"On-time closure by day, {month}")
    fig.autofmt_xdate()
    return _png(fig)


def overdue_by_department(table: pd.DataFrame) -> bytes:
    t = table[table["overdue"] > 0].sort_values("overdue", ascending=False).head(MAX_BARS)
    if t.empty:
        return _empty("Overdue by department")
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(t) + 1.2))
    ax.barh(list(t.index.astype(str))[::-1], t["overdue"].to_numpy()[::-1], color="#d62728")
    for y, (n, rate) in enumerate(zip(t["overdue"][::-1], t["overdue_rate"][::-1], strict=True)):
        ax.text(n, y, f" {rate:.0%}", va="center", fontsize=8)
    ax.set_xlabel("overdue cases (label: overdue rate)")
    ax.set_title("Overdue by department")
    return _png(fig)


def grid_heatmap(grid: pd.DataFrame, territory: pd.DataFrame, metric: str = "score") -> bytes:
    """Rows: communities; columns: each community's grids in code order; colour: ``metric``."""
    parents = territory.set_index("code")["parent_code"]
    g = grid.assign(community=[parents.get(c) for c in grid.index])
    g = g[g[metric].notna()]
    if g.empty:
        return _empty("Grids")
    g = g.sort_index()
    g["slot"] = g.groupby("community").cumcount()
    matrix = g.pivot(index="community", columns="slot", values=metric)
    fig, ax = plt.subplots(figsize=(min(14, 1 + 0.45 * matrix.shape[1]), 0.3 * len(matrix) + 1.5))
    data: Any = np.ma.masked_invalid(matrix.to_numpy(dtype=float))
    im = ax.imshow(data, aspect="auto", cmap="RdYlGn", vmin=0, vmax=100)
    ax.set_yticks(range(len(matrix)), [str(i) for i in matrix.index], fontsize=7)
    ax.set_xticks(range(matrix.shape[1]), [str(i + 1) for i in matrix.columns], fontsize=7)
    ax.set_xlabel("grid (in code order within the community)")
    ax.set_title(f"Grid {metric} by community")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)
