"""The part of the stream contract proved of every block whatever its function: each output
port holds ``valid`` and its payload until ``ready``, for any inputs and back-pressure."""

from moetile.hw.registry import block

from ..harness import output_streams
from ..properties import OutputContract
from ..spec import FormalSpec

__all__ = ["held_spec"]

#: k-induction depth: holding an output is a property of the output register alone.
HELD_DEPTH = 40


def held_spec(name: str, params: tuple) -> FormalSpec:
    """A spec proving ``held`` on every output stream of block ``name`` at ``params``."""

    def contracts(p):
        component = block(name).build(p)
        component._MustUse__silence = True  # built only to read its ports
        return [OutputContract(port) for port in output_streams(component)]

    return FormalSpec(block=name, params=params, contracts=contracts, depth=lambda p: HELD_DEPTH)
