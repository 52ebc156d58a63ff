"""The fast harness: a design's Verilator model driven from buffers of transactions by generated
C++, called through ``ctypes``, with no Python in the per-cycle loop."""

import ctypes
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moetile.hw.registry import Design

from .build import fast_library, library_path
from .ports import StreamPort, design_ports

__all__ = ["DeadlineError", "FastSim", "RunResult", "Traffic"]

_MODES = {"none": 0, "random": 1, "pattern": 2, "schedule": 3}
_DONE, _DEADLINE, _EXTRA, _STOPPED = 0, 1, 2, 3


@dataclass(frozen=True)
class Traffic:
    """Flow control of one stream: ``none`` (a source offers every cycle, a sink is always
    ready), ``random`` (a source idles, a sink stalls, with ``probability`` per cycle, seeded),
    or an explicit ``pattern`` of per-cycle bits (1: a source may offer its next item, a sink
    is ready), repeated when the run is longer, as cocotb's drivers take it too; or, for a
    source, a ``schedule``: the cycle of the run from which each item may be offered (its
    arrival: an item not taken waits, offered, as in a buffer)."""

    mode: str = "none"
    probability: float = 0.0
    seed: int = 0
    pattern: tuple[int, ...] = ()
    schedule: tuple[int, ...] = ()

    def __post_init__(self):
        if self.mode not in _MODES:
            raise ValueError(f"traffic mode must be one of {', '.join(_MODES)}, not {self.mode!r}")
        if not 0.0 <= self.probability < 1.0:
            raise ValueError(f"traffic probability must be in [0, 1), not {self.probability}")
        if self.mode == "pattern" and not any(self.pattern):
            raise ValueError("a traffic pattern needs at least one cycle with a 1")

    @classmethod
    def random(cls, probability: float, seed: int = 0) -> "Traffic":
        return cls("random", probability=probability, seed=seed)

    @classmethod
    def at(cls, cycles) -> "Traffic":
        """Each item of a source offered from its cycle of the run on (non-decreasing)."""
        cycles = tuple(int(c) for c in cycles)
        if (
            any(b < a for a, b in zip(cycles, cycles[1:], strict=False))
            or min(cycles, default=0) < 0
        ):
            raise ValueError("a traffic schedule must be non-decreasing cycles >= 0")
        return cls("schedule", schedule=cycles)

    @classmethod
    def explicit(cls, bits) -> "Traffic":
        return cls("pattern", pattern=tuple(int(bool(b)) for b in bits))


class DeadlineError(AssertionError):
    """A run that did not finish within its cycle budget, or produced more than expected."""


class _Stream(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("count", ctypes.c_int64),
        ("stamps", ctypes.c_void_p),
        ("mode", ctypes.c_int32),
        ("probability", ctypes.c_double),
        ("seed", ctypes.c_uint64),
        ("pattern", ctypes.c_void_p),
        ("pattern_length", ctypes.c_int64),
        ("done", ctypes.c_int64),
        ("stop", ctypes.c_int32),
        ("schedule", ctypes.c_void_p),
    ]


@dataclass
class RunResult:
    """What one run did.

    Members
    -------
    words : dict[str, np.ndarray]
        Per output stream, ``(n, words)`` ``uint32`` payloads in arrival order.
    stamps : dict[str, np.ndarray]
        Per stream (inputs and outputs), the cycle of every transfer.
    start, end : int
        The run's first cycle and the cycle after its last (cycle 0: the first after reset).
    stopped : str or None
        The ``stop`` stream whose transfers ended the run, if one did: then every other
        stream may be short of its count (``stamps`` says how far each got).
    """

    words: dict[str, np.ndarray]
    stamps: dict[str, np.ndarray]
    start: int
    end: int
    ports: dict[str, StreamPort] = field(repr=False)
    stopped: str | None = None

    @property
    def cycles(self) -> int:
        return self.end - self.start

    def payloads(self, name: str) -> dict:
        """Output stream ``name``'s payloads unpacked through its layout (nested dict)."""
        return self.ports[name].unpack(self.words[name])

    def integers(self, name: str) -> list[int]:
        """Output stream ``name``'s payloads as packed integers (as cocotb reads them)."""
        return self.ports[name].integers(self.words[name])


class FastSim:
    """A design on the fast harness.

    ``FastSim(design).run({"i": payloads}, expect={"o": n}, budget=cycles)`` resets a fresh
    model, feeds every input stream its transactions, drains ``n`` transactions from each
    output stream and returns them with the cycle of every transfer. :meth:`open` keeps one
    model across runs, so a run can continue where the previous one left the design.

    Parameters
    ----------
    design : Design
    waves : None, "vcd" or "fst"
        Build with waveform tracing (a separate build); each run then writes ``wave_path``.
    build : bool
        Build the library if it is missing (default); ``False`` refuses instead.
    tuned : bool
        Use the build tuned for speed (:data:`~moetile.sim.fast.build.TUNED_COMPILER_FLAGS`),
        a separate build.
    """

    def __init__(
        self, design: Design, waves: str | None = None, build: bool = True, tuned: bool = False
    ):
        self.design = design
        streams, statics = design_ports(design.component())
        self.streams = {s.name: s for s in streams}
        self.statics = {p.name: p for p in statics}
        self.waves = waves
        self.library_path = _library_path(design, waves, build, tuned)
        self.lib = _load(self.library_path)

    @staticmethod
    def ports_of(design: Design) -> dict[str, StreamPort]:
        """The stream ports of ``design``, by name (nothing is built)."""
        streams, _ = design_ports(design.component())
        return {s.name: s for s in streams}

    def run(self, inputs, *, expect=None, budget: int, **options) -> RunResult:
        """One run on a fresh model; see :meth:`Session.run` for the arguments."""
        with self.open(options.pop("wave_path", None)) as session:
            return session.run(inputs, expect=expect, budget=budget, **options)

    def open(self, wave_path: Path | None = None) -> "Session":
        """A model kept across runs (reset once, when opened)."""
        if wave_path is not None and self.waves is None:
            raise ValueError("wave_path needs a FastSim built with waves='vcd' or 'fst'")
        return Session(self, wave_path)


class Session:
    """One model instance; close it (or use ``with``) to free it and finish its waveform."""

    def __init__(self, sim: FastSim, wave_path: Path | None):
        self.sim = sim
        path = None if wave_path is None else str(wave_path).encode()
        self.handle = sim.lib.fs_open(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.handle:
            self.sim.lib.fs_close(self.handle)
            self.handle = None

    def spin(self, payloads: dict, cycles: int) -> None:
        """Clock the model ``cycles`` times with every source valid, showing ``payloads``
        (stream name → one payload, as :meth:`run` takes them), and every sink ready: no
        transactions counted, no stamps, no traffic. The speed of this loop is the ceiling of
        the harness (``moetile bench sim``)."""
        ports = [s for s in self.sim.streams.values() if s.inbound]
        missing = [p.name for p in ports if p.name not in payloads]
        if missing:
            raise ValueError(f"spin needs one payload for every input stream; missing {missing}")
        words = np.concatenate([p.pack(payloads[p.name])[0] for p in ports])
        self.sim.lib.fs_spin(self.handle, words.ctypes.data, int(cycles))

    def run(
        self,
        inputs,
        *,
        expect=None,
        budget: int,
        traffic=None,
        statics=None,
        settle: int = 0,
        stop=(),
    ) -> RunResult:
        """Feed ``inputs`` (stream name → payloads, see :meth:`StreamPort.pack`), drain
        ``expect`` (stream name → transaction count) and return the outputs and stamps.

        ``traffic``: stream name → :class:`Traffic` (default none). ``statics``: input name →
        integer, for ports that are not streams. ``budget``: the cycle deadline; the run fails
        with :class:`DeadlineError` naming what is still pending. ``settle``: cycles to run
        after the last transfer, in which no output may appear. ``stop``: output streams whose
        expected transfers, once made, end the run where it is (``RunResult.stopped``); the
        run completes without them. A run continued after a stop takes the inputs the stop
        left unsent (the items past each input's ``stamps``).
        """
        sim = self.sim
        _check_names(sim, inputs, expect or {}, traffic or {}, statics or {})
        outbound = [s.name for s in sim.streams.values() if not s.inbound]
        for name in stop:
            if name not in outbound:
                raise ValueError(f"stop stream {name!r} is not an output of {sim.design.top}")
        if budget < 1:
            raise ValueError(f"budget must be a cycle count >= 1, not {budget}")
        ins = [s for s in sim.streams.values() if s.inbound]
        outs = [s for s in sim.streams.values() if not s.inbound]
        traffic = traffic or {}
        keep = []  # numpy buffers that must outlive the call
        stamp_buffers = {}
        in_structs = (_Stream * max(1, len(ins)))()
        out_structs = (_Stream * max(1, len(outs)))()
        for n, port in enumerate(ins):
            words = port.pack(inputs.get(port.name, np.zeros((0, port.words), np.uint32)))
            stamp_buffers[port.name] = _fill(
                in_structs[n], words, len(words), traffic.get(port.name), keep
            )
        out_words = {}
        for n, port in enumerate(outs):
            count = (expect or {}).get(port.name, 0)
            if not isinstance(count, int) or count < 0:
                raise ValueError(f"expect[{port.name!r}] must be an integer >= 0, not {count!r}")
            if traffic.get(port.name, Traffic()).mode == "schedule":
                raise ValueError(f"a schedule is a source's traffic; {port.name} is an output")
            out_words[port.name] = np.zeros((count, port.words), dtype=np.uint32)
            stamp_buffers[port.name] = _fill(
                out_structs[n], out_words[port.name], count, traffic.get(port.name), keep
            )
            out_structs[n].stop = int(port.name in stop)
        static_words = _static_words(sim, statics or {})
        start = sim.lib.fs_cycle(self.handle)
        status = sim.lib.fs_run(
            self.handle,
            in_structs,
            out_structs,
            static_words.ctypes.data,
            int(budget),
            int(settle),
        )
        done = [*zip(ins, in_structs, strict=False), *zip(outs, out_structs, strict=False)]
        stamps = {port.name: stamp_buffers[port.name][: s.done].copy() for port, s in done}
        if status not in (_DONE, _STOPPED):
            raise DeadlineError(_pending(sim, status, budget, ins, in_structs, outs, out_structs))
        words = {
            port.name: out_words[port.name][: s.done]
            for port, s in zip(outs, out_structs, strict=False)
        }
        end = sim.lib.fs_cycle(self.handle)
        stopped = next(
            (
                p.name
                for p, s in zip(outs, out_structs, strict=False)
                if s.stop and s.done >= s.count > 0
            ),
            None,
        )
        return RunResult(
            words, stamps, start, end, dict(sim.streams), stopped if status == _STOPPED else None
        )


def _fill(struct, words, count, traffic, keep) -> np.ndarray:
    """Point ``struct`` at ``words`` and new stamp and pattern buffers (kept alive in
    ``keep``); return the stamp buffer."""
    stamps = np.zeros(max(1, count), dtype=np.int64)
    traffic = traffic or Traffic()
    pattern = np.asarray(traffic.pattern or (1,), dtype=np.uint8)
    schedule = np.zeros(max(1, count), dtype=np.int64)
    if traffic.mode == "schedule":
        if len(traffic.schedule) != count:
            raise ValueError(
                f"a traffic schedule needs one cycle an item: {count}, not {len(traffic.schedule)}"
            )
        schedule[:count] = traffic.schedule
    keep += [words, stamps, pattern, schedule]
    struct.schedule = schedule.ctypes.data
    struct.data = words.ctypes.data
    struct.count = count
    struct.stamps = stamps.ctypes.data
    struct.mode = _MODES[traffic.mode]
    struct.probability = traffic.probability
    struct.seed = traffic.seed
    struct.pattern = pattern.ctypes.data
    struct.pattern_length = len(pattern)
    return stamps


def _check_names(sim: FastSim, inputs, expect, traffic, statics) -> None:
    inbound = [s.name for s in sim.streams.values() if s.inbound]
    outbound = [s.name for s in sim.streams.values() if not s.inbound]
    for what, names, allowed in (
        ("input stream", inputs, inbound),
        ("output stream in expect", expect, outbound),
        ("stream in traffic", traffic, inbound + outbound),
        ("static input", statics, list(sim.statics)),
    ):
        for name in names:
            if name not in allowed:
                raise ValueError(
                    f"unknown {what} {name!r} for {sim.design.top}; "
                    f"allowed: {', '.join(allowed) or 'none'}"
                )


def _static_words(sim: FastSim, statics: dict) -> np.ndarray:
    words = []
    for name, port in sim.statics.items():
        value = statics.get(name, 0)
        if not isinstance(value, int) or not 0 <= value < 1 << port.width:
            raise ValueError(f"static input {name} must be an integer in [0, 2**{port.width})")
        words += [(value >> (32 * k)) & 0xFFFFFFFF for k in range(port.words)]
    return np.asarray(words or [0], dtype=np.uint32)


def _pending(sim, status, budget, ins, in_structs, outs, out_structs) -> str:
    if status == _EXTRA:
        extra = [p.name for p, s in zip(outs, out_structs, strict=False) if s.done > s.count]
        return f"{sim.design.top}: {', '.join(extra)} produced more than the expected transactions"
    pending = [
        f"{p.name} still holds {s.count - s.done} of {s.count} transactions"
        for p, s in zip(ins, in_structs, strict=False)
        if s.done < s.count
    ] + [
        f"{p.name} received {s.done} of {s.count} expected"
        for p, s in zip(outs, out_structs, strict=False)
        if s.done < s.count
    ]
    return f"{sim.design.top}: deadline of {budget} cycles passed; " + "; ".join(pending)


def _library_path(design: Design, waves, build: bool, tuned: bool) -> Path:
    if build:
        return fast_library(design, waves, tuned)
    path = library_path(design, waves, tuned)
    if not path.exists():
        raise ValueError(
            f"no fast-harness build of {design.top} at {path}; "
            "build it with FastSim(design, build=True)"
        )
    return path


@functools.cache
def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    lib.fs_open.restype = ctypes.c_void_p
    lib.fs_open.argtypes = [ctypes.c_char_p]
    lib.fs_close.argtypes = [ctypes.c_void_p]
    lib.fs_cycle.restype = ctypes.c_int64
    lib.fs_cycle.argtypes = [ctypes.c_void_p]
    lib.fs_spin.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.fs_run.restype = ctypes.c_int32
    lib.fs_run.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_Stream),
        ctypes.POINTER(_Stream),
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_int64,
    ]
    return lib
