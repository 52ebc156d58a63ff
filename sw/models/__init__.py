"""Offline workloads: models whose weights ship with installed packages or are trained here."""

__all__ = []
