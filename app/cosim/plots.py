"""PNG plots of a co-simulation report (matplotlib, Agg backend): each titled with what ran
(model, engine and its size, tokens, backend) and on which build (the design's top module,
moetile's version), legends beside the plot rather than over its bars."""

from importlib.metadata import version
from pathlib import Path

from moetile.sw.outputs import PNG_DPI, PNG_METADATA

__all__ = ["plot_figures", "plot_title", "write_plots"]

#: The figures' size in inches and resolution.
FIGURE_SIZE = (8, 4.4)


def plot_title(report: dict) -> str:
    """Two lines: what ran, and on which build."""
    settings, params = report["settings"], report["params"]
    ran = (
        f"{report['model']} on the {report['engine']} engine "
        f"({params['lanes']} lanes x {params['arrays']} arrays), "
        f"{settings['tokens']} tokens, {report['backend']} backend"
    )
    return f"{ran}\ndesign {report['design']}, moetile {version('moetile')}"


def plot_figures(report: dict) -> dict:
    """``{file name: matplotlib figure}`` for every plot ``report`` has data for (the caller
    closes them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = report["layers"]
    layers = [row["layer"] for row in rows]
    figures = {}

    def figure(name: str, title: str):
        fig, axes = plt.subplots(figsize=FIGURE_SIZE)
        fig.suptitle(plot_title(report), fontsize=8)
        axes.set_title(title, fontsize=10)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        figures[name] = fig
        return axes

    if "cycles" in rows[0]:
        axes = figure("cycles.png", "Cycles per layer by step")
        bottom = [0] * len(rows)
        for step in rows[0]["cycles"]:
            values = [row["cycles"][step] for row in rows]
            axes.bar(layers, values, bottom=bottom, label=step)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set(xlabel="layer", ylabel="cycles")
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="step")

        axes = figure(
            "utilization.png", "Expert-engine utilization (compute bound / gate-up + down cycles)"
        )
        axes.bar(layers, [100 * row["utilization"] for row in rows])
        axes.axhline(100, color="black", linewidth=0.8)
        axes.set(xlabel="layer", ylabel="% of compute bound")

    axes = figure("expert_load.png", "Expert loads")
    image = axes.imshow([row["expert_tokens"] for row in rows], aspect="auto", cmap="viridis")
    axes.figure.colorbar(image, ax=axes, label="tokens")
    axes.set(xlabel="expert", ylabel="layer")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))

    axes = figure("error.png", "Error of the quantized layer against the float layer")
    axes.bar(layers, [row["error"] for row in rows])
    axes.set(xlabel="layer", ylabel="||y - y_float|| / ||y_float||")
    for fig in figures.values():
        fig.tight_layout()
    return figures


def write_plots(report: dict, out: Path) -> list[str]:
    """Write the plots that ``report`` has data for into ``out``; return their names."""
    import matplotlib.pyplot as plt

    written = []
    for name, fig in plot_figures(report).items():
        fig.savefig(out / name, dpi=PNG_DPI, metadata=PNG_METADATA)
        plt.close(fig)
        written.append(name)
    return written
