"""The off-chip memory that holds the experts during generation: a model in the harness, not in
the design. It serves a fetch (a run of weight-load words) after a fixed latency at a fixed
bandwidth, both in accelerator cycles at a stated clock; the layer's weight-load port takes at
most one word a cycle, so a fetch runs at the slower of the two.

Modelled: peak bandwidth, one latency per fetch, energy per byte moved. Not modelled: banks, rows
and their activations, refresh, bus turnarounds, read/write mixes, contention with the host's own
traffic (attention and its KV cache), so every figure is a best case of the memory.
"""

import math
from dataclasses import dataclass, field, replace

from moetile.hw.checks import check_choice
from moetile.sw.cost.energy import ENERGY_TABLE

__all__ = [
    "MEMORIES",
    "MemoryQueue",
    "MemoryRequest",
    "MemoryPreset",
    "OffChipMemory",
    "check_memory_figures",
    "dram_pj_per_byte",
]


@dataclass(frozen=True)
class MemoryPreset:
    """A memory's peak bandwidth (where the figure comes from) and the latency assumed for one
    fetch (an assumption, stated as one)."""

    name: str
    what: str
    gb_per_s: float
    bandwidth_source: str
    latency_ns: float


#: The presets of ``--memory``. Bandwidths are peak figures of the interface standards; the
#: latencies are round figures assumed for a first word (not from a datasheet).
MEMORIES = {
    "lpddr5": MemoryPreset(
        "lpddr5",
        "LPDDR5, x64 at 6400 MT/s",
        51.2,
        "JEDEC JESD209-5 (LPDDR5): 6400 MT/s x 8 bytes",
        100.0,
    ),
    "hbm3": MemoryPreset(
        "hbm3",
        "HBM3, one stack",
        819.2,
        "JEDEC JESD238 (HBM3): 1024-bit interface at 6.4 Gb/s a pin",
        100.0,
    ),
    "pcie4": MemoryPreset(
        "pcie4",
        "host memory over PCIe 4.0 x16",
        32.0,
        "PCI-SIG PCIe 4.0: 16 GT/s x 16 lanes, the peak before encoding (31.5 GB/s after)",
        1000.0,
    ),
}


def check_memory_figures(gb_per_s: float | None, latency_ns: float | None) -> None:
    """A bandwidth (GB/s) above zero and a latency (ns) of zero or more, each finite, where
    given."""
    if gb_per_s is not None and not (math.isfinite(gb_per_s) and gb_per_s > 0):
        raise ValueError(f"bandwidth must be a positive number of GB/s, not {gb_per_s}")
    if latency_ns is not None and not (math.isfinite(latency_ns) and latency_ns >= 0):
        raise ValueError(f"memory_latency must be a number of ns >= 0, not {latency_ns}")


def dram_pj_per_byte() -> float:
    """Energy of a byte read from DRAM: the table's 64-bit DRAM access over 8 bytes."""
    return ENERGY_TABLE["dram64"].pj / 8


@dataclass(frozen=True)
class OffChipMemory:
    """A :class:`MemoryPreset` seen from an accelerator clocked at ``clock_mhz``."""

    preset: MemoryPreset
    clock_mhz: float

    @classmethod
    def named(
        cls,
        name: str,
        clock_mhz: float,
        gb_per_s: float | None = None,
        latency_ns: float | None = None,
    ) -> "OffChipMemory":
        """The preset ``name``, its bandwidth or latency replaced where given (stated as set
        by the user)."""
        check_choice("memory", name, tuple(MEMORIES))
        if not clock_mhz > 0:
            raise ValueError(f"clock must be a positive number of MHz, not {clock_mhz}")
        check_memory_figures(gb_per_s, latency_ns)
        preset = MEMORIES[name]
        if gb_per_s is not None:
            what = f"{preset.what}, its bandwidth {gb_per_s:g} GB/s"
            preset = replace(preset, what=what, gb_per_s=gb_per_s, bandwidth_source="set")
        if latency_ns is not None:
            preset = replace(preset, latency_ns=latency_ns)
        return cls(preset, clock_mhz)

    @property
    def bytes_per_cycle(self) -> float:
        return self.preset.gb_per_s * 1e3 / self.clock_mhz

    @property
    def latency_cycles(self) -> int:
        return math.ceil(self.preset.latency_ns * self.clock_mhz / 1e3)

    def words_per_cycle(self, word_bytes: float) -> float:
        """Load words a cycle: the memory's bandwidth over a word, at most the port's one."""
        return min(1.0, self.bytes_per_cycle / word_bytes)

    def arrivals(self, start: float, word_bytes: list[float]) -> list[int]:
        """The cycles words of ``word_bytes`` bytes each are ready when their bytes start
        arriving at cycle ``start``: a word once every byte up to its last has arrived at the
        bandwidth (a word of ``n`` cycles' bytes in the ``n``-th), one a cycle at most."""
        ready, arrived, last = [], 0.0, math.ceil(start) - 1
        for size in word_bytes:
            arrived += size
            due = math.ceil(start + arrived / self.bytes_per_cycle - 1e-9) - 1
            last = max(last + 1, due)
            ready.append(last)
        return ready

    def offers(self, word_bytes: list[float]) -> list[int]:
        """The cycle bits of a fetch of words of ``word_bytes`` bytes each: 1 where the memory
        has the next word ready (the harness's ``pattern`` traffic), after the latency."""
        ready = self.arrivals(self.latency_cycles, word_bytes)
        bits = [0] * (ready[-1] + 1 if ready else self.latency_cycles)
        for cycle in ready:
            bits[cycle] = 1
        return bits

    def fetch_cycles(self, word_bytes: list[float]) -> int:
        """Cycles from a fetch's request to its last word, into a port that is always ready."""
        return len(self.offers(word_bytes))

    def energy_pj(self, nbytes: float) -> float:
        return nbytes * dram_pj_per_byte()

    def to_json(self) -> dict:
        p = self.preset
        return {
            "memory": p.name,
            "what": p.what,
            "gb_per_s": p.gb_per_s,
            "bandwidth_source": p.bandwidth_source,
            "latency_ns": p.latency_ns,
            "latency": "assumed" if p.latency_ns == MEMORIES[p.name].latency_ns else "set",
            "clock_mhz": self.clock_mhz,
            "bytes_per_cycle": self.bytes_per_cycle,
            "latency_cycles": self.latency_cycles,
            "pj_per_byte": dram_pj_per_byte(),
            "energy_source": ENERGY_TABLE["dram64"].source,
        }


@dataclass
class MemoryRequest:
    """A request to the memory: the byte sizes of its words, when it was made, its priority
    (0 before 1), what it is (``tag``); as served, each word's ready cycle, the cycle its bytes
    end, and how many words were taken."""

    at: int
    sizes: list
    priority: int
    tag: object = None
    ready: list = field(default_factory=list)
    end: float = 0.0
    taken: int = 0

    def begun(self, at: int) -> bool:
        return bool(self.taken) or bool(self.ready) and self.ready[0] <= at


class MemoryQueue:
    """The memory serving requests one after another over time (absolute cycles): each
    request's words after its latency and after the bytes of the request served before it, at
    the bandwidth, a word ready once its last byte has arrived (one a cycle at most, as
    :meth:`OffChipMemory.offers` counts them). A request of priority 0 is served before every
    request of priority 1 not yet begun (a lookup's miss before the prefetches waiting);
    none is interrupted."""

    def __init__(self, memory: OffChipMemory):
        self.memory = memory
        self.requests: list[MemoryRequest] = []
        self.free_at = 0.0  # when the bytes of every request taken whole had arrived

    def ask(self, request: MemoryRequest) -> None:
        """Queue ``request`` (made at ``request.at``) and reschedule what has not begun."""
        first = next(
            (n for n, r in enumerate(self.requests) if not r.begun(request.at)),
            len(self.requests),
        )
        place = first
        while place < len(self.requests) and self.requests[place].priority <= request.priority:
            place += 1
        self.requests.insert(place, request)
        t = self.requests[first - 1].end if first else self.free_at
        for r in self.requests[first:]:
            start = max(r.at + self.memory.latency_cycles, t)
            r.ready = self.memory.arrivals(start, r.sizes)
            r.end = t = start + sum(r.sizes) / self.memory.bytes_per_cycle

    def ready(self) -> list[int]:
        """The ready cycle of every word not taken, in the order the words come."""
        return [c for r in self.requests for c in r.ready[r.taken :]]

    def take(self, count: int, stamps) -> list[tuple]:
        """The next ``count`` words taken at ``stamps``: ``(tag, stamp)`` of each request whose
        last word they include."""
        done, n = [], 0
        while n < count:
            r = self.requests[0]
            step = min(count - n, len(r.sizes) - r.taken)
            r.taken += step
            n += step
            if r.taken == len(r.sizes):
                done.append((r.tag, int(stamps[n - 1])))
                self.free_at = max(self.free_at, r.end)
                self.requests.pop(0)
        return done
