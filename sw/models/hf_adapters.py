"""Adapters from Hugging Face ``transformers`` MoE blocks to :class:`MoELayer`.

A new architecture is one function registered with :func:`adapter`.
"""

from collections.abc import Callable

import torch

from .moe_layer import Expert, MoELayer

__all__ = ["adapter", "from_hf", "supported"]

_ADAPTERS: dict[str, Callable] = {}


def adapter(class_name: str):
    """Register ``function(block) -> MoELayer`` for blocks whose class is ``class_name``."""

    def register(function):
        _ADAPTERS[class_name] = function
        return function

    return register


def supported() -> list[str]:
    return sorted(_ADAPTERS)


def from_hf(block) -> MoELayer:
    """The :class:`MoELayer` of a Hugging Face MoE block (weights shared, not copied)."""
    name = type(block).__name__
    if name not in _ADAPTERS:
        raise ValueError(f"unsupported MoE block {name}; supported: {', '.join(supported())}")
    return _ADAPTERS[name](block)


def _fused_experts(experts, activation: str) -> tuple[Expert, ...]:
    """transformers 5 stores experts fused: ``gate_up_proj`` ``(E, 2*ff, d)``, ``down_proj``
    ``(E, d, ff)``; the first half of ``gate_up_proj`` is the gate."""
    out = []
    for e in range(experts.num_experts):
        gate, up = experts.gate_up_proj[e].detach().chunk(2, dim=0)
        out.append(
            Expert(up=up, down=experts.down_proj[e].detach(), gate=gate, activation=activation)
        )
    return tuple(out)


@adapter("MixtralSparseMoeBlock")
def _mixtral(block) -> MoELayer:
    return MoELayer(
        gate=block.gate.weight.detach(),
        top_k=block.gate.top_k,
        normalize_top_k=True,
        experts=_fused_experts(block.experts, _activation_of(block)),
        name="mixtral",
    )


@adapter("OlmoeSparseMoeBlock")
def _olmoe(block) -> MoELayer:
    return MoELayer(
        gate=block.gate.weight.detach(),
        top_k=block.gate.top_k,
        normalize_top_k=bool(block.gate.norm_topk_prob),
        experts=_fused_experts(block.experts, _activation_of(block)),
        name="olmoe",
    )


def _activation_of(block) -> str:
    act = block.experts.act_fn
    probe = torch.linspace(-3, 3, 7)
    for name in ("silu", "gelu", "relu"):
        reference = getattr(torch.nn.functional, name)(probe)
        if torch.allclose(act(probe), reference):
            return name
    raise ValueError(
        f"unsupported expert activation {type(act).__name__}; supported: silu, gelu, relu"
    )
