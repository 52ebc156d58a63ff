"""PNG plots of a co-simulation report (matplotlib, Agg backend)."""

from pathlib import Path

from moetile.sw.outputs import PNG_METADATA

__all__ = ["write_plots"]


def write_plots(report: dict, out: Path) -> list[str]:
    """Write the plots that ``report`` has data for into ``out``; return their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["layers"]
    layers = [row["layer"] for row in rows]
    written = []

    def save(name, figure):
        figure.tight_layout()
        figure.savefig(out / name, dpi=110, metadata=PNG_METADATA)
        plt.close(figure)
        written.append(name)

    if "cycles" in rows[0]:
        figure, axes = plt.subplots(figsize=(7, 4))
        bottom = [0] * len(rows)
        for step in rows[0]["cycles"]:
            values = [row["cycles"][step] for row in rows]
            axes.bar(layers, values, bottom=bottom, label=step)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set(xlabel="layer", ylabel="cycles", title="Cycles per layer by step")
        axes.set_xticks(layers)
        axes.legend()
        save("cycles.png", figure)

        figure, axes = plt.subplots(figsize=(7, 4))
        axes.bar(layers, [100 * row["utilization"] for row in rows])
        axes.axhline(100, color="black", linewidth=0.8)
        axes.set(
            xlabel="layer",
            ylabel="% of compute bound",
            title="Expert-engine utilization (compute bound / gate-up + down cycles)",
        )
        axes.set_xticks(layers)
        save("utilization.png", figure)

    figure, axes = plt.subplots(figsize=(7, 4))
    image = axes.imshow([row["expert_tokens"] for row in rows], aspect="auto", cmap="viridis")
    figure.colorbar(image, ax=axes, label="tokens")
    axes.set(xlabel="expert", ylabel="layer", title="Expert loads")
    axes.set_yticks(range(len(layers)), layers)
    save("expert_load.png", figure)

    figure, axes = plt.subplots(figsize=(7, 4))
    axes.bar(layers, [row["error"] for row in rows])
    axes.set(
        xlabel="layer",
        ylabel="||y - y_float|| / ||y_float||",
        title="Error of the quantized layer against the float layer",
    )
    axes.set_xticks(layers)
    save("error.png", figure)
    return written
