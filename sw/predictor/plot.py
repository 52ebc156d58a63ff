"""A PNG of each predictor's exact match per layer."""

from pathlib import Path

from moetile.sw.outputs import PNG_DPI, PNG_METADATA

__all__ = ["plot_accuracy"]


def plot_accuracy(rows: list[dict], path: Path, title: str) -> None:
    """One line per predictor over the layers it predicts, written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.8))
    for method in dict.fromkeys(r["predictor"] for r in rows):
        mine = [r for r in rows if r["predictor"] == method and r["layer"] != "mean"]
        axis.plot([r["layer"] for r in mine], [r["exact_match"] for r in mine], "o-", label=method)
    axis.set(xlabel="layer", ylabel="exact match of the top-k set", ylim=(0, 1))
    axis.set_title(title, fontsize=9)
    axis.set_xticks(sorted({r["layer"] for r in rows if r["layer"] != "mean"}))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="predictor")
    figure.tight_layout()
    figure.savefig(Path(path), dpi=PNG_DPI, format="png", metadata=PNG_METADATA)
    plt.close(figure)
