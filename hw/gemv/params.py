"""Parameters of the int8 GEMV block; every width is derived here."""

from dataclasses import dataclass

from ..checks import MAX_UNITS, check_int, signed_range

__all__ = ["PIPELINE_STAGES", "GemvParams"]

#: Registers between a weight chunk's address and its sum: the memories' read and the products.
PIPELINE_STAGES = 2


@dataclass(frozen=True)
class GemvParams:
    """Int8 GEMV parameters.

    ``y[o] = sum_k w[o, k] * x[k]`` for ``o < outputs``, ``k < inputs``, exactly. Vectors and
    weight rows move in chunks of ``macs`` values (the last one zero-padded), and ``macs``
    multiply-accumulates run per cycle.

    Parameters
    ----------
    inputs : int
        Vector length ``d``, ``>= 1``.
    outputs : int
        Weight rows ``E`` (results per vector), ``>= 1``.
    macs : int
        Multipliers working in parallel (values per chunk), ``1 ..= min(inputs, 1024)``.
    width : int
        Width of a signed weight or input value, ``2 ..= 16`` (8 for int8).
    """

    inputs: int = 32
    outputs: int = 8
    macs: int = 8
    width: int = 8

    def __post_init__(self):
        check_int("inputs", self.inputs, minimum=1)
        check_int("outputs", self.outputs, minimum=1)
        check_int("macs", self.macs, minimum=1, maximum=min(self.inputs, MAX_UNITS))
        check_int("width", self.width, minimum=2, maximum=16)

    @property
    def value_range(self) -> tuple[int, int]:
        return signed_range(self.width)

    @property
    def chunks(self) -> int:
        """Chunks of ``macs`` values per vector or weight row."""
        return -(-self.inputs // self.macs)

    @property
    def product_width(self) -> int:
        """Signed width of one product: ``(-2**(w-1))**2 = 2**(2w-2)`` needs ``2w`` bits."""
        return 2 * self.width

    @property
    def acc_width(self) -> int:
        """Signed width holding any sum of ``inputs`` products exactly:
        ``|y| <= inputs * 2**(2w-2)``."""
        return (self.inputs << (2 * self.width - 2)).bit_length() + 1

    @property
    def weight_transfers(self) -> int:
        """Weight-stream transfers that load the whole matrix (row-major chunks)."""
        return self.outputs * self.chunks

    @property
    def result_latency(self) -> int:
        """With the result read at once, the most cycles a vector's result is owed before its
        transfer (from its last chunk): one per chunk and output to compute, the
        :data:`PIPELINE_STAGES` of the last one, and one to present the result."""
        return self.outputs * self.chunks + PIPELINE_STAGES + 1

    @property
    def vector_cycles(self) -> int:
        """Cycles from a vector's first chunk transfer to its result transfer, with chunks
        offered every cycle and the result read at once: ``chunks`` to load, then the
        :attr:`result_latency`."""
        return self.chunks + self.result_latency
