"""Exact golden models, written from each block's arithmetic and never from its RTL."""

__all__ = []
