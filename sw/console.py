"""How ``moetile`` talks to its user: one-line errors, progress on stderr, aligned tables."""

import sys

__all__ = [
    "UserError",
    "print_table",
    "progress",
    "progress_bar",
    "quiet_transformers",
    "training_bar",
]


class UserError(Exception):
    """A mistake on the command line or in an input file: one line, exit status 2."""


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def progress_bar(description: str, total: int, unit: str = "step"):
    """The one style of progress for a long step: a ``tqdm`` bar on stderr with the count, the
    rate and the time left (``bar.update()``; ``bar.set_postfix_str()`` for a detail such as the
    loss; close it, or use it in a ``with``)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"... {description}",
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )


def training_bar(description: str):
    """An ``on_step(step, total, loss)`` callback that draws :func:`progress_bar`."""
    bar = None

    def on_step(step: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(description, total)
        bar.set_postfix_str(f"loss {loss:.3f}", refresh=False)
        bar.update(step - bar.n)
        if step == total:
            bar.close()

    return on_step


def print_table(rows: list[dict]) -> None:
    """One aligned table per run of rows that share the same columns."""
    groups: list[list[dict]] = []
    for row in rows:
        if groups and list(groups[-1][0]) == list(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    for n, group in enumerate(groups):
        if n:
            print()
        columns = list(group[0])
        text = [[_cell(row[c]) for c in columns] for row in group]
        widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for line in text:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def quiet_transformers() -> None:
    """No progress bars or warnings from ``transformers``: moetile reports its own progress."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
