"""The designs a command works on: a block and its ``--param`` changes, a ``--config`` file of
designs, or every registered design at its defaults (``moetile generate``, ``implement``)."""

import json
from pathlib import Path

from moetile.hw.registry import Design, block, blocks, design_from_config, parse_param
from moetile.sw.console import UserError

__all__ = ["add_design_options", "selected_designs"]


def add_design_options(parser, block_help: str) -> None:
    """``block``, and ``--param`` or ``--config`` (one or the other)."""
    parser.add_argument("block", nargs="?", help=block_help)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one Params field of BLOCK (repeatable; moetile generate BLOCK --list-params "
        "lists them)",
    )
    source.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help='JSON: {"block": ..., "params": {...}} or a list of them',
    )


def selected_designs(args) -> list[Design]:
    """The designs ``args`` select (every registered design at its defaults when none is
    named)."""
    if args.config is not None:
        return _designs_from_config(args.config)
    if args.block is None:
        if args.param:
            raise UserError("--param needs a block name")
        return [Design(entry, params) for entry in blocks() for params in entry.defaults]
    entry = block(args.block)
    return [Design(entry, entry.make_params(dict(parse_param(entry, p) for p in args.param)))]


def _designs_from_config(path: Path) -> list[Design]:
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise UserError(f"cannot read --config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UserError(f"--config {path} is not valid JSON: {error}") from None
    entries = data if isinstance(data, list) else [data]
    return [
        design_from_config(item, f"--config {path} entry {n}") for n, item in enumerate(entries)
    ]
