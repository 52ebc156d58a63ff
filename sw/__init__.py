"""moetile software below the simulators: golden models, quantization, workloads, mapping, cost
models, predictor training and the runtime that runs a quantized model on a backend."""

__all__ = []
