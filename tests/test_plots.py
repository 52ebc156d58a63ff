"""The co-simulation plots: titled with what ran and on which build, legends beside the bars,
tick labels that do not run into each other."""

from importlib.metadata import version
from itertools import combinations

import pytest

from moetile.app.cosim.plots import plot_figures, plot_title

STEPS = ("load", "route", "gather", "gate_up", "down", "output")


def _report(layers: int = 4, experts: int = 64) -> dict:
    return {
        "model": "tiny-moe",
        "engine": "mixpe",
        "backend": "fast",
        "design": "moe_layer_engine_mixpe_lanes8",
        "settings": {"tokens": 16},
        "params": {"lanes": 8, "arrays": 2},
        "layers": [
            {
                "layer": n,
                "cycles": {step: 1000 * (s + 1) for s, step in enumerate(STEPS)},
                "utilization": 0.8,
                "expert_tokens": [(n + e) % 5 for e in range(experts)],
                "error": 0.01 * (n + 1),
            }
            for n in range(layers)
        ],
    }


@pytest.fixture
def figures():
    import matplotlib.pyplot as plt

    made = plot_figures(_report())
    for fig in made.values():
        fig.canvas.draw()
    yield made
    for fig in made.values():
        plt.close(fig)


def test_every_plot_names_the_model_engine_tokens_and_build(figures):
    title = plot_title(_report())
    for part in ("tiny-moe", "mixpe engine", "8 lanes x 2 arrays", "16 tokens", "fast backend"):
        assert part in title
    assert f"design moe_layer_engine_mixpe_lanes8, moetile {version('moetile')}" in title
    assert sorted(figures) == ["cycles.png", "error.png", "expert_load.png", "utilization.png"]
    for fig in figures.values():
        assert fig._suptitle.get_text() == title


def test_the_legend_stands_beside_the_bars(figures):
    (axes,) = [a for a in figures["cycles.png"].axes if a.get_legend()]
    legend, plot = axes.get_legend().get_window_extent(), axes.get_window_extent()
    assert legend.x0 >= plot.x1
    assert [t.get_text() for t in axes.get_legend().get_texts()] == list(STEPS)


def _overlapping_ticks(fig) -> list[list[str]]:
    """The tick labels of ``fig``'s axes that run into their neighbours."""
    fig.canvas.draw()
    found = []
    for axes in fig.axes:
        for axis in (axes.xaxis, axes.yaxis):
            ticks = [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
            labels = [t for t in ticks if t.get_visible() and t.get_text()]
            for a, b in combinations(labels, 2):
                if a.get_window_extent().overlaps(b.get_window_extent()):
                    found.append([a.get_text(), b.get_text()])
    return found


def test_tick_labels_do_not_overlap(figures):
    for name, fig in figures.items():
        assert not _overlapping_ticks(fig), name


def test_the_go_cache_plot_labels_each_prompt_length_once():
    import matplotlib.pyplot as plt

    from moetile.app.bench import BenchReport, bench_plots
    from moetile.app.bench.gocache import PROMPTS

    rows = [
        {"workload": w, "prompt": p, "speedup": p / 4, "energy_ratio": p / 5}
        for w in ("tiny-moe", "random")
        for p in PROMPTS
    ]
    (fig,) = bench_plots("gocache", BenchReport("gocache", rows)).values()
    try:
        assert not _overlapping_ticks(fig)
        for axes in fig.axes:
            shown = [t.get_text() for t in axes.xaxis.get_ticklabels() if t.get_text()]
            assert shown == [str(p) for p in PROMPTS]
    finally:
        plt.close(fig)
