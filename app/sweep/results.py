"""A sweep's results on disk: ``results.csv`` and ``results.jsonl`` (a row per point), and
``pareto.png``: each point's time per token (cycles, or µs at its design's clock) against its
area (logic cells, else LUTs, else memory bits), coloured by its energy a token (on and off
chip, else on chip alone, else its utilization), the points no other beats on both marked and
joined."""

import csv
import io
import json
from pathlib import Path

from moetile.sw.outputs import PNG_DPI, PNG_METADATA, OutputFolder

from .run import SweepResult

__all__ = ["pareto_front", "point_colours", "write_results"]

#: What colours the Pareto plot's points, the first every point has: energy (on and off chip
#: together, else on chip), else the engine's use.
COLOURS = ("uj_per_token", "onchip_uj_per_token", "utilization", "error")
#: Energies the colour ``uj_per_token`` adds up.
ENERGIES = ("onchip_uj_per_token", "offchip_uj_per_token")
LABELS = {
    "uj_per_token": "µJ a token, on and off chip",
    "onchip_uj_per_token": "µJ a token on chip (dynamic)",
}


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point matches or beats on both coordinates (lower is
    better) while beating on one, in order of the first coordinate."""
    front = [
        n
        for n, (x, y) in enumerate(points)
        if not any(a <= x and b <= y and (a, b) != (x, y) for a, b in points)
    ]
    return sorted(front, key=lambda n: points[n])


def write_results(result: SweepResult, out: Path) -> list[str]:
    """The table and plot in the folder ``out`` (new, or one moetile wrote), all or nothing;
    return the names written."""
    columns = list(result.rows[0])
    table = io.StringIO()
    writer = csv.DictWriter(table, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    with OutputFolder(out).writing() as stage:
        (stage / "results.csv").write_text(table.getvalue())
        (stage / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in result.rows))
        names = ["results.csv", "results.jsonl"]
        if _plot(result, stage / "pareto.png"):
            names.append("pareto.png")
    return names


def point_colours(metrics: tuple, rows: list[dict]) -> tuple[str | None, list]:
    """What colours the plotted ``rows`` (the first of :data:`COLOURS` every row has) and
    their values; ``(None, [])`` when none."""

    def value(row, name):
        if name != "uj_per_token":
            return row.get(name) if name in metrics else None
        parts = [row.get(m) if m in metrics else None for m in ENERGIES]
        return None if None in parts else sum(parts)

    for name in COLOURS:
        values = [value(row, name) for row in rows]
        if None not in values:
            return name, values
    return None, []


def _plot(result: SweepResult, path: Path) -> bool:
    """The Pareto plot, when the points kept an area and a time per token."""
    metrics = result.spec.metrics
    time = next((m for m in ("us_per_token", "cycles_per_token") if m in metrics), None)
    area = next((m for m in ("cells", "luts", "memory_bits") if m in metrics), None)
    rows = [r for r in result.rows if r["status"] == "ok" and r.get(time) and r.get(area)]
    if not (time and area and rows):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = [r[area] for r in rows], [r[time] for r in rows]
    fig, axes = plt.subplots(figsize=(8, 4.6))
    colour, values = point_colours(metrics, rows)
    if colour:
        shown = axes.scatter(xs, ys, c=values, cmap="viridis")
        fig.colorbar(shown, ax=axes, label=LABELS.get(colour, colour.replace("_", " ")))
    else:
        axes.scatter(xs, ys)
    front = pareto_front(list(zip(xs, ys, strict=True)))
    axes.plot([xs[n] for n in front], [ys[n] for n in front], "k--", linewidth=0.8)
    for n, row in enumerate(rows):
        label = ", ".join(str(row[a]) for a in result.spec.axes)
        axes.annotate(label, (xs[n], ys[n]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes.set(xlabel=area.replace("_", " "), ylabel=time.replace("_", " "))
    axes.set_title(
        f"{len(rows)} points ({', '.join(result.spec.axes)}); dashed: the Pareto front",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI, metadata=PNG_METADATA)
    plt.close(fig)
    return True
