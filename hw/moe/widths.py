"""Widths the whole MoE layer accelerator shares, its engines included."""

__all__ = ["ACTIVATION_WIDTH", "MAX_SUM_WIDTH"]

#: Width of every int8 activation: token vectors, requantized sums, lookup-table entries.
ACTIVATION_WIDTH = 8

#: Widest exact expert sum an engine may hand on (the spec's int32 sums).
MAX_SUM_WIDTH = 32
