"""The fast harness: every registered design at millions of cycles per second from Python,
driven cycle for cycle as the cocotb benches drive it (docs/architecture.md)."""

from .harness import DeadlineError, FastSim, RunResult, Traffic

__all__ = ["DeadlineError", "FastSim", "RunResult", "Traffic"]
