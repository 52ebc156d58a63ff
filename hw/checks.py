"""Validation helpers shared by every ``*Params`` dataclass (standard library only)."""

__all__ = [
    "MAX_UNITS",
    "check_bool",
    "check_choice",
    "check_int",
    "counter_range",
    "signed_width",
    "signed_range",
    "unsigned_range",
]


#: The most parallel units (lanes, PE rows, MACs, arrays, crossbar rows and columns, candidates
#: of a comparator network) a block may instantiate: generating 1,024 FAT lanes takes about
#: 20 s, 4,096 about 7 minutes, and lint, synthesis and simulation grow faster still.
MAX_UNITS = 1024


def check_int(name: str, value, *, minimum: int, maximum: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an ``int`` in ``[minimum, maximum]``."""
    allowed = (
        f"an integer >= {minimum}" if maximum is None else (f"an integer in [{minimum}, {maximum}]")
    )
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, not {value}")


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")


def signed_range(width: int) -> tuple[int, int]:
    """Inclusive range of a two's complement integer of ``width`` bits."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest two's complement integer holding every value in ``[lo, hi]``."""
    return max(v.bit_length() if v >= 0 else (-v - 1).bit_length() for v in (lo, hi)) + 1


def unsigned_range(width: int) -> tuple[int, int]:
    """Inclusive range of an unsigned integer of ``width`` bits."""
    return 0, (1 << width) - 1


def counter_range(count: int) -> range:
    """Shape of a counter over ``0 .. count-1``, at least one bit wide (a zero-width signal
    becomes an invalid ``[-1:0]`` range in Verilog)."""
    return range(max(2, count))


def check_bool(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is ``True`` or ``False`` (not 0 or 1)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, not {value!r}")
