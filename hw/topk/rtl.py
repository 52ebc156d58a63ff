"""Builds the top-k component a :class:`TopKParams` asks for."""

from .network import TopKNetwork
from .params import TopKParams
from .sequential import TopKSequential

__all__ = ["topk_component"]


def topk_component(params: TopKParams):
    return {"network": TopKNetwork, "sequential": TopKSequential}[params.arch](params)
