"""Builds a design's fast-harness library: its Verilator model and the generated driver linked
into one shared object, once per design and waveform kind, in the design's build directory."""

import hashlib
import os
import subprocess
from pathlib import Path

from moetile.hw.registry import Design
from moetile.sw.paths import write_atomically

from ..build import design_dir, generate_verilog, locked
from ..env import BUILD_WAIVERS, prepare_environment
from .driver import driver_source
from .ports import design_ports, plain_outputs
from .wrapper import WRAPPER_TOP, wrapper_source

__all__ = ["LIBRARY", "WAVES", "fast_library", "library_path"]

#: Waveform kinds: ``None`` builds without tracing (the fast default).
WAVES = {None: 0, "vcd": 1, "fst": 2}

LIBRARY = "libfastsim.so"

#: Compiler and Verilator options of every fast-harness build (part of the library's key).
COMPILER_FLAGS = "-fPIC -fvisibility=hidden -O2"
VERILATOR_FLAGS = ()
#: The same, tuned for speed (``tuned=True``): the ceiling ``moetile bench sim`` measures. It
#: builds in about twice the time for a few per cent more speed, so the harness keeps the
#: defaults.
TUNED_COMPILER_FLAGS = "-fPIC -fvisibility=hidden -O3"
TUNED_VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert")


def _flags(tuned: bool) -> tuple[str, tuple[str, ...]]:
    if tuned:
        return TUNED_COMPILER_FLAGS, TUNED_VERILATOR_FLAGS
    return COMPILER_FLAGS, VERILATOR_FLAGS


def library_path(design: Design, waves: str | None = None, tuned: bool = False) -> Path:
    """Where the shared library of ``design`` lives (whether or not it is built): keyed by a
    digest of its generated driver and its build options, so a changed driver never reuses a
    stale library."""
    if waves not in WAVES:
        raise ValueError(f"waves must be one of None, 'vcd', 'fst', not {waves!r}")
    ports = design_ports(design.component())
    source = driver_source(*ports) + _wrapper(design, ports)
    compiler_flags, verilator_flags = _flags(tuned)
    key = f"{source}{waves}{compiler_flags}{verilator_flags}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return design_dir(design) / f"fastsim-{digest}" / LIBRARY


def fast_library(design: Design, waves: str | None = None, tuned: bool = False) -> Path:
    """The shared library of ``design`` (built on first use, under the design's lock);
    ``tuned``: with :data:`TUNED_COMPILER_FLAGS` and :data:`TUNED_VERILATOR_FLAGS`."""
    library = library_path(design, waves, tuned)
    build = library.parent
    if waves == "fst" and not library.exists():
        _check_fst_headers()
    verilog = generate_verilog(design)
    with locked(design_dir(design)):
        if not library.exists():
            build.mkdir(exist_ok=True)
            ports = design_ports(design.component())
            write_atomically(build / "driver.cpp", driver_source(*ports))
            write_atomically(build / f"{WRAPPER_TOP}.v", _wrapper(design, ports))
            _verilate(design, verilog, build, waves, tuned)
    return library


def _wrapper(design: Design, ports) -> str:
    return wrapper_source(design.top, *ports, unread=plain_outputs(design.component()))


def _check_fst_headers() -> None:
    """Verilator's FST writer compiles against LZ4 and zlib; say so instead of a compiler error."""
    probe = subprocess.run(
        ["g++", "-E", "-x", "c++", "-", "-o", os.devnull],
        input="#include <lz4.h>\n#include <zlib.h>\n",
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        raise ValueError(
            "waves='fst' needs the LZ4 and zlib headers (Debian: liblz4-dev zlib1g-dev); "
            "waves='vcd' needs nothing"
        )


def _verilate(design: Design, verilog: Path, build: Path, waves: str | None, tuned: bool) -> None:
    prepare_environment()
    compiler_flags, verilator_flags = _flags(tuned)
    partial = f".{LIBRARY}.{os.getpid()}.tmp"
    # Everything is position-independent and hidden but the driver's entry points, so several
    # designs' models (each with its own copy of the Verilator runtime) load into one process.
    command = [
        "verilator",
        *verilator_flags,
        "--cc",
        "--exe",
        "--build",
        "-j",
        str(os.cpu_count() or 1),
        "--top-module",
        WRAPPER_TOP,
        "--prefix",
        "Vtop",
        "--Mdir",
        str(build / "obj"),
        "-o",
        str(build / partial),
        "-CFLAGS",
        f"{compiler_flags} -DFS_TRACE={WAVES[waves]}",
        "-LDFLAGS",
        "-shared -Wl,-Bsymbolic",
        *(f"-Wno-{w}" for w in BUILD_WAIVERS),
        *({"vcd": ["--trace-vcd"], "fst": ["--trace-fst"]}.get(waves, [])),
        str(verilog),
        str(build / f"{WRAPPER_TOP}.v"),
        str(build / "driver.cpp"),
    ]
    log = build / "build.log"
    with open(log, "w") as handle:
        run = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT)
    if run.returncode:
        errors = [line for line in log.read_text().splitlines() if "rror" in line]
        raise RuntimeError(
            f"fast-harness build of {design.top} failed ({log}):\n" + "\n".join(errors[:10])
        )
    (build / partial).replace(build / LIBRARY)
