"""A PNG of each predictor's exact match per layer."""

import os
from pathlib import Path

__all__ = ["plot_accuracy"]


def plot_accuracy(rows: list[dict], path: Path, title: str) -> None:
    """One line per predictor over the layers it predicts; written whole or not at all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 3.8))
    for method in dict.fromkeys(r["predictor"] for r in rows):
        mine = [r for r in rows if r["predictor"] == method and r["layer"] != "mean"]
        axis.plot([r["layer"] for r in mine], [r["exact_match"] for r in mine], "o-", label=method)
    axis.set(xlabel="layer", ylabel="exact match of the top-k set", ylim=(0, 1), title=title)
    axis.set_xticks(sorted({r["layer"] for r in rows if r["layer"] != "mean"}))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    figure.savefig(tmp, dpi=110)
    plt.close(figure)
    os.replace(tmp, path)
