"""``moetile prove``: the formal proofs of the registered blocks, as a table."""

import dataclasses
import json

from moetile.hw.registry import Design, block, blocks, parse_param
from moetile.sw.console import UserError, print_table, progress

__all__ = ["add_prove_command", "formal_designs"]


def add_prove_command(commands) -> None:
    prove = commands.add_parser(
        "prove", help="formal proofs: stream contracts and functional properties"
    )
    prove.add_argument("block", nargs="?", help="block name (default: every block)")
    prove.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change the block's small formal Params (applied to each of them)",
    )
    prove.add_argument(
        "--property", action="append", default=None, metavar="NAME", help="only these properties"
    )
    prove.add_argument(
        "--max-depth",
        type=int,
        default=None,
        metavar="N",
        help="run every property to N steps at most: a quicker check, weaker for each "
        "property whose own depth is greater (default: each property's depth)",
    )
    prove.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    prove.set_defaults(run=_prove)


def formal_designs(name: str | None, param_texts: list[str]) -> list[Design]:
    """The designs ``moetile prove`` proves: each block's small formal Params, with ``--param``
    changes applied to each (duplicates dropped)."""
    from moetile.sim.formal.spec import formal_spec

    if name is None:
        if param_texts:
            raise UserError("--param needs a block name")
        return [Design(e, p) for e in blocks() for p in formal_spec(e.name).params]
    entry = block(name)
    changes = dict(parse_param(entry, text) for text in param_texts)
    designs = []
    for params in formal_spec(entry.name).params:
        values = {**dataclasses.asdict(params), **changes}
        design = Design(entry, entry.make_params(values))
        if design not in designs:
            designs.append(design)
    return designs


def _prove(args) -> int:
    from moetile.sim.formal.run import prove_designs
    from moetile.sim.formal.spec import formal_spec

    if args.max_depth is not None and args.max_depth < 1:
        raise UserError(f"--max-depth must be at least 1, not {args.max_depth}")
    designs = formal_designs(args.block, args.param)
    tops = ", ".join(dict.fromkeys(d.base for d in designs))
    progress(f"proving {len(designs)} designs ({tops})")
    specs = [(design, formal_spec(design.block.name)) for design in designs]
    results = prove_designs(specs, args.property, args.max_depth)
    if args.json:
        rows = [{"params": d.params_dict, **dataclasses.asdict(r)} for d, r in results]
        print(json.dumps(rows, indent=2))
    else:
        print_table([_row(d, r, designs) for d, r in results])
        counts = {s: sum(r.status == s for _d, r in results) for s in _STATUSES}
        print(
            f"{len(results)} {'property' if len(results) == 1 else 'properties'}: "
            f"{counts['proved']} proved unbounded, "
            f"{counts['bounded']} bounded, {counts['failed']} failed"
            f" ({sum(r.cached for _d, r in results)} from the cache)"
        )
    return 1 if any(r.status == "failed" for _d, r in results) else 0


_STATUSES = ("proved", "bounded", "failed")


def _differences(design: Design, designs: list[Design]) -> str:
    """The Params that tell ``design`` from the others of its block with the same
    microarchitecture (or the label its formal spec gives them)."""
    from moetile.sim.formal.spec import formal_spec

    same = [d for d in designs if d.base == design.base and d is not design]
    if not same:
        return ""
    spec = formal_spec(design.block.name)
    if spec.labels and design.params in spec.params:
        return spec.labels[spec.params.index(design.params)]
    base = same[0].params_dict
    return " ".join(f"{k}={v}" for k, v in design.params_dict.items() if base[k] != v)


def _row(design: Design, result, designs: list[Design]) -> dict:
    verdict = {
        "proved": "proved (k-induction)",
        "bounded": f"bounded to depth {result.depth}",
        "failed": f"FAILED at step {result.depth}",
    }[result.status]
    return {
        "design": f"{result.design} {_differences(design, designs)}".rstrip(),
        "property": result.name,
        "result": verdict,
        "seconds": f"{result.seconds:.1f}",
        "counterexample": result.trace or "",
    }
