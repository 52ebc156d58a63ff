"""The application floor: the ``moetile`` command, the benchmarks, and co-simulation's
orchestration with its simulator backends. It sits above ``moetile.sim``; nothing below imports
it (the floors are ``hw`` < ``sw`` < ``sim`` < ``app``, see docs/architecture.md)."""

__all__ = []
