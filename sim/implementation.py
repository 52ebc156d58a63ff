"""Designs placed and routed on an ECP5 (:mod:`moetile.sw.cost.fpga`), their reports kept
beside the design's Verilog in the cache, so any run prints times at the clock the design
reaches."""

import json

from moetile.hw.registry import Design
from moetile.sw.cost.clock import Clock, assumed_clock, given_clock
from moetile.sw.cost.fpga import DEVICES, FpgaReport, implement
from moetile.sw.paths import cache_root, write_atomically

from .build import design_dir

__all__ = ["design_clock", "implement_design", "implemented_report", "work_dir"]


def work_dir(design: Design):
    """Where the tools work on ``design``: its RTLIL, netlist and nextpnr's report stay there."""
    return cache_root() / "fpga" / "work" / design.params_hash


def implement_design(design: Design, device: str, clock_mhz: float) -> FpgaReport:
    """Place and route ``design`` on ``device`` against ``clock_mhz`` (cached), and keep the
    report for :func:`design_clock`."""
    from amaranth.back import rtlil

    text = rtlil.convert(design.component(), name=design.top)
    report = implement(text, design.top, device, clock_mhz, work_dir(design))
    directory = design_dir(design)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / f"fpga-{device}.json", json.dumps(report.to_json(), indent=2))
    return report


def implemented_report(design: Design) -> FpgaReport | None:
    """The report of ``design`` (these Params, these hardware sources) from the largest device
    it was implemented on, or ``None``."""
    for device in reversed(DEVICES):
        path = design_dir(design) / f"fpga-{device}.json"
        if path.is_file():
            fields = json.loads(path.read_text())
            fields.pop("meets_clock")
            return FpgaReport(**fields)
    return None


def design_clock(design: Design, given_mhz: float | None = None) -> Clock:
    """The clock of ``design``'s times: ``given_mhz`` when given, else its implemented Fmax,
    else the assumed target clock."""
    if given_mhz is not None:
        return given_clock(given_mhz)
    report = implemented_report(design)
    if report is None:
        return assumed_clock(design.top)
    return Clock(report.fmax_mhz, f"Fmax of {design.top} placed and routed on {report.device}")
