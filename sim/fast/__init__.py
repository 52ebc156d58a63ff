"""The fast harness: every registered design at millions of cycles per second from Python,
driven cycle for cycle as the cocotb benches drive it (ARCHITECTURE.md §5)."""

from .harness import DeadlineError, FastSim, RunResult, Traffic

__all__ = ["DeadlineError", "FastSim", "RunResult", "Traffic"]
