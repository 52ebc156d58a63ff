"""Adder trees shared by the blocks."""

__all__ = ["tree_sum"]


def tree_sum(values):
    """Pairwise sums, level by level: depth ``ceil(log2 n)`` instead of ``n - 1``."""
    values = list(values)
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + (values[-1:] if len(values) % 2 else [])
    return values[0]
