"""The ``moetile`` command: one module per command family, joined in :mod:`.main`."""

from .main import main

__all__ = ["main"]
