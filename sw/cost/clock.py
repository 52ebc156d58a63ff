"""The clock every printed time is at: a design's implemented Fmax (``moetile implement``),
a clock the user gives, or, with neither, the implementation target, named as an assumption."""

from dataclasses import dataclass

from .fpga import DEFAULT_CLOCK_MHZ, check_clock

__all__ = ["Clock", "assumed_clock", "given_clock"]


@dataclass(frozen=True)
class Clock:
    """A clock frequency and where it comes from."""

    mhz: float
    source: str

    def microseconds(self, cycles: float) -> float:
        return cycles / self.mhz

    def to_json(self) -> dict:
        return {"mhz": self.mhz, "source": self.source}


def given_clock(mhz: float) -> Clock:
    return Clock(check_clock(mhz), "given with --clock")


def assumed_clock(top: str) -> Clock:
    return Clock(
        DEFAULT_CLOCK_MHZ,
        f"assumed, the implementation target: {top} has not been placed and routed yet "
        "(moetile implement)",
    )
