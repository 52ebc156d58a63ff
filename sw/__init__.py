"""moetile software: golden models, quantization, workloads, mapping, runtime and the CLI."""

__all__ = []
