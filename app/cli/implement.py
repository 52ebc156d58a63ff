"""``moetile implement``: place and route designs on an ECP5 FPGA, and report their resources,
the clock they reach and their critical path."""

import json
import shutil
from pathlib import Path

from moetile.app.cli.designs import add_design_options, selected_designs
from moetile.sw.console import UserError, print_table, progress, wrapped
from moetile.sw.cost.fpga import (
    DEFAULT_CLOCK_MHZ,
    DEFAULT_DEVICE,
    DEVICES,
    check_clock,
    check_device,
)
from moetile.sw.outputs import OutputFolder

__all__ = ["add_implement_command"]

#: The files of each design copied to ``--dir``: its RTLIL and nextpnr's report.
KEPT = (".il", ".report.json")


def add_implement_command(commands) -> None:
    implement = commands.add_parser(
        "implement", help="place and route on an ECP5 FPGA: resources, Fmax, critical path"
    )
    add_design_options(implement, "block name (default: every block, its defaults)")
    implement.add_argument(
        "--device", default=DEFAULT_DEVICE, help=f"the FPGA: {', '.join(DEVICES)} (speed grade 6)"
    )
    implement.add_argument(
        "--clock",
        type=float,
        default=DEFAULT_CLOCK_MHZ,
        metavar="MHZ",
        help="the clock constraint in MHz",
    )
    implement.add_argument(
        "--dir",
        type=Path,
        default=Path("build/fpga"),
        help="folder for each design's RTLIL and nextpnr report: new, or one moetile wrote",
    )
    implement.add_argument("--json", action="store_true", help="JSON on stdout instead of tables")
    implement.set_defaults(run=_implement)


def _implement(args) -> int:
    from moetile.sim.implementation import implement_design, work_dir
    from moetile.sw.cost.fpga import DeviceFitError

    check_device(args.device)
    check_clock(args.clock)
    designs = selected_designs(args)
    folder = OutputFolder(args.dir, "--dir")  # refused now, not after the run
    reports, kept = [], []
    for n, design in enumerate(designs, 1):
        progress(
            f"[{n}/{len(designs)}] {design.top}: synth_ecp5, then nextpnr-ecp5 on {args.device} "
            f"at {args.clock:g} MHz"
        )
        try:
            report = implement_design(design, args.device, args.clock)
        except (RuntimeError, DeviceFitError) as error:
            raise UserError(f"{design.top}: {error}") from None
        reports.append(report)
        # The tools work in the cache; the netlist and nextpnr's report are copied to --dir.
        kept += [work_dir(design) / f"{design.top}{suffix}" for suffix in KEPT]
    with folder.writing(keep_earlier=True) as stage:
        for path in kept:
            if path.is_file():
                shutil.copyfile(path, stage / path.name)
    if args.json:
        print(json.dumps({"designs": [r.to_json() for r in reports]}, indent=2))
        return 0
    print_table([_summary(r) for r in reports])
    for report in reports:
        path = report.critical_path
        print()
        print(f"{report.top} on {report.device}:")
        print_table(report.rows())
        print(
            wrapped(
                f"critical path: {path['from']} to {path['to']}, {path['cells']} cells, "
                f"{path['logic_ns']:.2f} ns logic + {path['routing_ns']:.2f} ns routing"
            )
        )
    return 0


def _summary(report) -> dict:
    return {
        "design": report.top,
        "fmax_mhz": report.fmax_mhz,
        "clock_mhz": report.clock_mhz,
        "met": report.meets_clock,
        "luts": report.resources["TRELLIS_COMB"][0],
        "ffs": report.resources["TRELLIS_FF"][0],
        "carries": report.carry_cells,
        "ebr": report.resources["DP16KD"][0],
        "dsp": report.resources["MULT18X18D"][0],
        "seconds": report.seconds,
    }
