"""The ordering every top-k in moetile uses: higher score first, ties to the lower index."""

__all__ = ["beats"]


def beats(a, b):
    """Amaranth expression: candidate view ``a`` ranks strictly before candidate view ``b``."""
    return (a.score > b.score) | ((a.score == b.score) & (a.index < b.index))
