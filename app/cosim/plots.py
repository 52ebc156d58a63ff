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
    if "generation" in report:
        g = report["generation"]
        work = f"{g['new_tokens']} tokens generated after each of {g['prompts']} prompts"
    else:
        work = f"{settings['tokens']} tokens"
    ran = (
        f"{report['model']} on the {report['engine']} engine "
        f"({params['lanes']} lanes x {params['arrays']} arrays), "
        f"{work}, {report['backend']} backend"
    )
    return f"{ran}\ndesign {report['design']}, moetile {version('moetile')}"


def plot_figures(report: dict) -> dict:
    """``{file name: matplotlib figure}`` for every plot ``report`` has data for (the caller
    closes them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figures = {}

    def figure(name: str, title: str):
        fig, axes = plt.subplots(figsize=FIGURE_SIZE)
        fig.suptitle(plot_title(report), fontsize=8)
        axes.set_title(title, fontsize=10)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        figures[name] = fig
        return axes

    if "generation" in report:
        _generation_figures(report, figure)
    else:
        _prefill_figures(report, figure)
    for fig in figures.values():
        fig.tight_layout()
    return figures


def _stacked(axes, xs, parts: dict, legend: str) -> None:
    """Bars at ``xs`` stacked from ``parts`` (label → values), the legend beside the plot."""
    bottom = [0] * len(xs)
    for label, values in parts.items():
        axes.bar(xs, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title=legend)


def _generation_figures(report: dict, figure) -> None:
    """Decode cycles per generated token by layer, and every step's cycles."""
    if "layers" in report:
        rows = report["layers"]
        axes = figure("decode_cycles_per_token.png", "Decode: cycles per generated token by layer")
        steps = rows[0]["cycles_per_token"]
        parts = {name: [row["cycles_per_token"][name] for row in rows] for name in steps}
        _stacked(axes, [row["layer"] for row in rows], parts, "step")
        axes.set(xlabel="layer", ylabel="cycles per generated token")
    if "steps" in report:
        rows = report["steps"]
        axes = figure("step_cycles.png", "Cycles of each generation step (0: the prefill)")
        parts = {name: [row["cycles"][name] for row in rows] for name in rows[0]["cycles"]}
        _stacked(axes, [row["step"] for row in rows], parts, "cycles")
        axes.set(xlabel="step", ylabel="cycles, every layer", yscale="log")


def _prefill_figures(report: dict, figure) -> None:
    from matplotlib.ticker import MaxNLocator

    rows = report["layers"]
    layers = [row["layer"] for row in rows]
    if "cycles" in rows[0]:
        axes = figure("cycles.png", "Cycles per layer by step")
        parts = {step: [row["cycles"][step] for row in rows] for step in rows[0]["cycles"]}
        _stacked(axes, layers, parts, "step")
        axes.set(xlabel="layer", ylabel="cycles")

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


def write_plots(report: dict, out: Path) -> list[str]:
    """Write the plots that ``report`` has data for into ``out``; return their names."""
    import matplotlib.pyplot as plt

    written = []
    for name, fig in plot_figures(report).items():
        fig.savefig(out / name, dpi=PNG_DPI, metadata=PNG_METADATA)
        plt.close(fig)
        written.append(name)
    return written
