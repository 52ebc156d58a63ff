"""How ``moetile`` talks to its user: one-line errors, progress on stderr, aligned tables."""

import sys
import textwrap

__all__ = [
    "TABLE_WIDTH",
    "UserError",
    "print_table",
    "progress",
    "progress_bar",
    "quiet_transformers",
    "training_bar",
    "wrapped",
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


#: Columns a table may take: tables wider than this are split, repeating the columns that
#: identify a row, and a cell too long for what is left wraps onto more lines.
TABLE_WIDTH = 100

_GAP = "  "

#: The narrowest a wrapped last column may be.
_WRAPPED = 30

#: The widest a number prints (``_cell``: four significant digits, ``-1.234e+05``).
_FIGURE = 10


def print_table(rows: list[dict], width: int = TABLE_WIDTH) -> None:
    """One aligned table per run of rows that share the same columns, each within ``width``.
    Where a table too wide splits depends on its columns and texts more than on its figures (a
    number is taken as :data:`_FIGURE` wide), so runs of one command split alike."""
    for n, group in enumerate(_same_columns(rows)):
        if n:
            print()
        columns = list(group[0])
        cells = [[_cell(row[c]) for c in columns] for row in group]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        planned = [
            max(w, _FIGURE) if _numeric(group, c) else w
            for w, c in zip(widths, columns, strict=True)
        ]
        for m, part in enumerate(_parts(widths, planned, cells, width)):
            if m:
                print()
            part_cells = [[r[i] for i in part] for r in cells]
            print("\n".join(_aligned([columns[i] for i in part], part_cells, width)))


def _numeric(rows: list[dict], column: str) -> bool:
    return all(isinstance(r[column], int | float) and not isinstance(r[column], bool) for r in rows)


def wrapped(line: str, indent: str = "", rest: str = "    ") -> str:
    """``line`` within :data:`TABLE_WIDTH`, broken only at spaces: its first line indented by
    ``indent``, the others by ``rest``."""
    return textwrap.fill(
        line,
        TABLE_WIDTH,
        initial_indent=indent,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _same_columns(rows: list[dict]) -> list[list[dict]]:
    groups: list[list[dict]] = []
    for row in rows:
        if groups and list(groups[-1][0]) == list(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _parts(
    widths: list[int], planned: list[int], cells: list[list[str]], width: int
) -> list[list[int]]:
    """Column indices of each part of a table whose columns are ``widths`` wide: all of them
    when they fit ``width``; otherwise the columns that identify a row, then the others in as
    few parts as fit (``planned`` wide), as even in width as the order of the columns
    allows."""
    if _span([*widths[:-1], min(widths[-1], _WRAPPED)]) <= width:
        return [list(range(len(widths)))]
    keys = _key_count(cells, planned, width // 2)
    fewest = len(_packed(planned, keys, width))
    narrowest = next(
        limit
        for limit in range(_span(planned[: keys + 1]), width + 1)
        if len(_packed(planned, keys, limit)) <= fewest
    )
    return _packed(planned, keys, narrowest)


def _packed(widths: list[int], keys: int, limit: int) -> list[list[int]]:
    """The columns after the ``keys`` first, in order, each part as full as ``limit`` allows."""
    parts: list[list[int]] = []
    for i in range(keys, len(widths)):
        if parts and _span([widths[j] for j in parts[-1]] + [widths[i]]) <= limit:
            parts[-1].append(i)
        else:
            parts.append([*range(keys), i])
    return parts


def _key_count(cells: list[list[str]], widths: list[int], limit: int) -> int:
    """How many leading columns tell the rows apart (1 when no prefix within ``limit`` does)."""
    for count in range(1, len(widths)):
        if _span(widths[:count]) > limit:
            break
        if len({tuple(r[:count]) for r in cells}) == len(cells):
            return count
    return 1


def _span(widths: list[int]) -> int:
    return sum(widths) + len(_GAP) * (len(widths) - 1)


def _aligned(columns: list[str], cells: list[list[str]], width: int) -> list[str]:
    """The lines of one table; a last column too long for ``width`` wraps under itself."""
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    room = max(width - _span(widths[:-1]) - len(_GAP), _WRAPPED) if len(widths) > 1 else width
    widths[-1] = min(widths[-1], room)
    lines = []
    for row in [columns, *cells]:
        last = textwrap.wrap(row[-1], widths[-1], break_on_hyphens=False) or [""]
        lines.append(_GAP.join(v.ljust(w) for v, w in zip(row[:-1], widths, strict=False)))
        lines[-1] = (lines[-1] + _GAP if len(row) > 1 else "") + last[0]
        indent = " " * (_span(widths[:-1]) + len(_GAP)) if len(row) > 1 else ""
        lines += [indent + more for more in last[1:]]
    return [line.rstrip() for line in lines]


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def quiet_transformers() -> None:
    """No progress bars or warnings from ``transformers``: moetile reports its own progress."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
