"""Area of a multiplexed-crossbar tile in µm² at 32 nm: its digital periphery from Yosys, its
analog parts from cited per-component figures. One table, every entry with its source.

- **Digital**: the tile's generated Verilog through Yosys with its analog model blackboxed
  (:data:`~moetile.hw.xbar.analog.ANALOG_MODULE`), each generic gate priced as the Nangate
  45 nm cell of the same function, scaled to 32 nm by (32/45)² (ideal area scaling). A
  flip-flop is a ``DFF_X1``, plus a ``MUX2_X1`` when it has an enable and an ``AND2_X1``
  when it has a synchronous reset.
- **Analog** (ISAAC, ISCA 2016, 32 nm, one crossbar read per 100 ns): per crossbar, its cells
  (the 128 × 128 figure scaled by cells); per group, one DAC per wordline, a sample-and-hold
  per bitline and ``ceil(bitlines / 128)`` ADCs (one ISAAC ADC at 1.2 GS/s converts 128
  bitlines per read). Other resolutions: an ADC's area doubles per bit (as its energy,
  :mod:`moetile.sw.cost.energy`), a ``b``-bit DAC is ``2**b - 1`` one-bit DACs.
"""

import math
from dataclasses import dataclass

from moetile.hw.xbar import TileParams

from .energy import ISAAC

__all__ = [
    "ANALOG_AREA",
    "CELL_AREA",
    "TileArea",
    "analog_area",
    "area_table_rows",
    "digital_area",
    "logic_area",
]

NANGATE = "Nangate 45 nm Open Cell Library (FreePDK45), X1 cells; scaled to 32 nm by (32/45)^2"
SCALE_TO_32NM = (32 / 45) ** 2

#: µm² at 45 nm of the cell each Yosys gate becomes.
CELL_AREA = {
    "$_NOT_": (0.532, "INV_X1"),
    "$_NAND_": (0.798, "NAND2_X1"),
    "$_NOR_": (0.798, "NOR2_X1"),
    "$_AND_": (1.064, "AND2_X1"),
    "$_OR_": (1.064, "OR2_X1"),
    "$_ANDNOT_": (1.064, "AND2_X1 (inverted input folded in)"),
    "$_ORNOT_": (1.064, "OR2_X1 (inverted input folded in)"),
    "$_XOR_": (1.596, "XOR2_X1"),
    "$_XNOR_": (1.596, "XNOR2_X1"),
    "$_MUX_": (1.862, "MUX2_X1"),
    "flip-flop": (4.522, "DFF_X1"),
}


@dataclass(frozen=True)
class AnalogEntry:
    um2: float
    what: str
    source: str


#: µm² at 32 nm of each analog component.
ANALOG_AREA = {
    "adc8": AnalogEntry(1200.0, "8-bit ADC, 1.2 GS/s (0.0096 mm² for 8)", ISAAC),
    "dac1": AnalogEntry(0.166, "1-bit DAC (0.00017 mm² for 1024)", ISAAC),
    "sample_hold": AnalogEntry(0.039, "sample-and-hold (0.00004 mm² for 1024)", ISAAC),
    "crossbar128": AnalogEntry(25.0, "128 x 128 crossbar of 2-bit cells (0.0002 mm² for 8)", ISAAC),
}

#: Bitlines one ADC converts per read.
BITLINES_PER_ADC = 128


def _gate_area(kind: str) -> float:
    """µm² at 45 nm of Yosys cell ``kind``."""
    if "DFF" in kind:
        # ``$_<NAME>_<polarities>_``: NAME ends in E with an enable; SDFF* have a synchronous
        # reset, DFFSR* set and reset, a plain DFF with three polarities an asynchronous one.
        name, polarities = (kind.strip("$_").split("_") + [""])[:2]
        area = CELL_AREA["flip-flop"][0]
        if name.endswith("E"):
            area += CELL_AREA["$_MUX_"][0]
        if name.startswith("S") or "SR" in name or len(polarities) >= 3:
            area += CELL_AREA["$_AND_"][0]
        return area
    if kind not in CELL_AREA:
        raise ValueError(f"no area for Yosys cell {kind!r}; priced: {', '.join(CELL_AREA)}")
    return CELL_AREA[kind][0]


def logic_area(cells_by_type: dict) -> float:
    """µm² at 45 nm (the cells' own node) of synthesized logic (``SynthResult.cells_by_type``)."""
    return sum(n * _gate_area(t) for t, n in cells_by_type.items() if t != "$scopeinfo")


def digital_area(cells_by_type: dict) -> float:
    """µm² at 32 nm of synthesized logic (``SynthResult.cells_by_type``)."""
    return logic_area(cells_by_type) * SCALE_TO_32NM


def analog_area(params: TileParams) -> dict[str, float]:
    """µm² of each analog part of the tile: ``cells``, ``adcs``, ``dacs``, ``sample_hold``."""
    xbar = params.crossbar
    t = ANALOG_AREA
    cells = params.crossbars * xbar.rows * xbar.bitlines
    adcs = params.groups * math.ceil(xbar.bitlines / BITLINES_PER_ADC)
    return {
        "cells": t["crossbar128"].um2 * cells / (128 * 128),
        "adcs": adcs * t["adc8"].um2 * 2.0 ** (xbar.adc_bits - 8),
        "dacs": params.groups * xbar.rows * t["dac1"].um2 * ((1 << xbar.dac_bits) - 1),
        "sample_hold": params.groups * xbar.bitlines * t["sample_hold"].um2,
    }


@dataclass(frozen=True)
class TileArea:
    digital: float
    analog: dict

    @property
    def total(self) -> float:
        return self.digital + sum(self.analog.values())

    def to_json(self) -> dict:
        return {
            "digital_um2": self.digital,
            **{f"{name}_um2": v for name, v in self.analog.items()},
            "area_um2": self.total,
        }


def area_table_rows() -> list[dict]:
    """The table, for reports: every entry with its source."""
    rows = [
        {"component": name, "um2": e.um2, "what": e.what, "source": e.source}
        for name, e in ANALOG_AREA.items()
    ]
    rows += [
        {"component": kind, "um2": round(um2 * SCALE_TO_32NM, 4), "what": cell, "source": NANGATE}
        for kind, (um2, cell) in CELL_AREA.items()
    ]
    return rows
