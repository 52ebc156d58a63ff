"""Amaranth hardware blocks of moetile.

Each block lives in its own sub-package: ``params`` (a frozen dataclass that derives every width,
standard library only, so golden models and the mapper use it without importing Amaranth) and the
Amaranth components beside it.
"""

__all__ = []
