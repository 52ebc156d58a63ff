"""Designs in the cache: ``designs/<block>/<params-hash>-<rtl-digest>/`` holds a design's Verilog
and its Verilator builds, made once and shared by tests, benches and the CLI, safe when processes
build at once."""

import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path

from moetile.hw.registry import Design
from moetile.sw.paths import cache_root, locked_file, write_atomically

from .env import BUILD_WAIVERS, prepare_environment
from .verilog import design_verilog

__all__ = [
    "design_dir",
    "generate_verilog",
    "locked",
    "rtl_digest",
    "verilator_build",
]


def design_dir(design: Design) -> Path:
    """``<cache>/designs/<block>/<params hash>-<RTL source digest>``: a design is rebuilt when
    either its Params or the hardware sources change."""
    return cache_root() / "designs" / design.block.name / f"{design.params_hash}-{rtl_digest()}"


@functools.cache
def rtl_digest() -> str:
    """Digest of every ``hw/`` source file and of this module (which writes the Verilog): stale
    Verilog can never be reused after an edit."""
    from moetile import hw

    digest = hashlib.sha256()
    root = Path(hw.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    for writer in ("build.py", "verilog.py"):
        digest.update((Path(__file__).parent / writer).read_bytes())
    return digest.hexdigest()[:8]


@contextlib.contextmanager
def locked(directory: Path):
    """Hold an exclusive lock on ``directory`` (created if needed) for the ``with`` body."""
    with locked_file(directory / ".lock"):
        yield directory


def generate_verilog(design: Design) -> Path:
    """Write ``<top>.v`` (and ``params.json``) for ``design`` in its cache directory, once."""
    directory = design_dir(design)
    path = directory / f"{design.top}.v"
    with locked(directory):
        if not path.exists():
            write_atomically(path, design_verilog(design))
            write_atomically(
                directory / "params.json",
                json.dumps({"block": design.block.name, "params": design.params_dict}, indent=2)
                + "\n",
            )
    return path


#: C++ optimization of a cocotb build's model code (Verilator's ``OPT_FAST``, ``-Os`` by
#: default): ``-O1`` compiles about a third sooner and runs a cocotb testbench about as fast
#: (``-O0`` compiles sooner still, but its model runs a long MoE-layer bench at half the
#: speed). Verilator's runtime, which serves every VPI call, keeps its optimization (and
#: ccache compiles it once).
COCOTB_OPT_FAST = "-O1"


def verilator_build(design: Design) -> Path:
    """Build the cocotb Verilator simulator of ``design`` once; return its build directory."""
    directory = design_dir(design)
    source = generate_verilog(design)
    sim_dir = directory / "verilator"
    with locked(directory):
        if not (sim_dir / design.top).exists():
            from cocotb_tools.runner import get_runner

            prepare_environment()
            log = directory / "verilator-build.log"
            with _make_variables(OPT_FAST=COCOTB_OPT_FAST):
                try:
                    get_runner("verilator").build(
                        sources=[source],
                        hdl_toplevel=design.top,
                        build_dir=sim_dir,
                        build_args=[f"-Wno-{w}" for w in BUILD_WAIVERS],
                        timescale=("1ns", "1ps"),
                        log_file=log,
                    )
                except RuntimeError:
                    errors = [line for line in log.read_text().splitlines() if "rror" in line]
                    raise RuntimeError(
                        f"Verilator build of {design.top} failed ({log}):\n"
                        + "\n".join(errors[:10])
                    ) from None
    return sim_dir


@contextlib.contextmanager
def _make_variables(**values):
    """Run the body with ``values`` set as variables of every ``make`` it starts (through
    ``MAKEFLAGS``, which make reads as if typed on its command line)."""
    before = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(
        [*(f"{name}={value}" for name, value in values.items()), before or ""]
    ).strip()
    try:
        yield
    finally:
        if before is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = before
