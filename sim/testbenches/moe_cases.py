"""MoE layer stimulus: random integer layers (with chosen scales, so that values spread over
int8 and also saturate), random and extreme tokens."""

import math
import random

import torch

from moetile.hw.moe import MoELayerParams
from moetile.sw.engines import engine_software
from moetile.sw.golden.moe_layer import IntegerExpert, IntegerMoELayer, W4A8Rows

__all__ = ["edge_tokens", "random_layer", "random_tokens"]


def _shift_for(params: MoELayerParams, typical: float, wanted: float) -> int:
    """The shift taking ``typical * 2**30`` (a mid multiplier) to about ``wanted``."""
    return max(1, min(63, round(math.log2(max(typical, 1)) + 30 - math.log2(wanted))))


def _pairs(rng: random.Random, rows: int, shift: int) -> torch.Tensor:
    return torch.tensor(
        [[rng.randrange(1 << 30, 1 << 31), shift + rng.randint(-1, 1)] for _ in range(rows)]
    )


def _rows(rng: random.Random, params: MoELayerParams, shape, sparsity: float):
    """Random rows for the layer's engine."""
    return engine_software(params).random_rows(rng, params, shape, sparsity)


def _rms(rows) -> float:
    weights = rows.integer_weights() if isinstance(rows, W4A8Rows) else torch.as_tensor(rows)
    return float(weights.double().pow(2).mean().sqrt())


def random_layer(
    params: MoELayerParams, seed: int, sparsity: float = 0.4, fine_router: bool = False
) -> IntegerMoELayer:
    """A random layer; requantization shifts sized so that typical sums land mid-int8 with
    tokens of scale code about ``2**(w-1)``. ``fine_router``: small gate weights and an exp
    index of about one step per logit unit, so that near-ties, and any error of one in a logit
    difference, change the gating weights."""
    p = params
    rng = random.Random(seed)
    d, f = p.hidden, p.expert_hidden
    experts = []
    for _ in range(p.total_experts):
        gate, up = _rows(rng, p, (f, d), sparsity), _rows(rng, p, (f, d), sparsity)
        token_sum = math.sqrt(d) * _rms(gate) * 74 / 2  # token multiplier about M / 2
        expert_shift = _shift_for(p, token_sum, 60)
        experts.append(
            IntegerExpert(
                gate=gate if p.gated else None,
                up=up,
                down=_rows(rng, p, (d, f), sparsity),
                gate_scale=_pairs(rng, f, expert_shift) if p.gated else None,
                up_scale=_pairs(rng, f, expert_shift),
                combine=torch.tensor(
                    [rng.randrange(1, 1 << p.combine_multiplier_width) for _ in range(d)]
                ),
                **(_expert_biases(rng, p) if p.expert_bias else {}),
            )
        )
    g = torch.Generator().manual_seed(seed)
    spread = 3 if fine_router else 128
    router = torch.randint(-spread, spread, (p.experts, d), generator=g)
    logit_spread = 1 if fine_router else math.sqrt(d) * 74 * 74 / 2
    # Unweighted logits land about a quarter of the bias's range (some clamp).
    logit_target = (1 << (p.bias_width - 3)) if p.scoring == "unweighted" else 32
    one = 1 << p.gate_frac
    if p.scoring == "sigmoid":  # sigmoid(i / 16)
        exp_table = [round(one / (1 + math.exp(-i / 16))) for i in range(p.exp_entries)]
    else:
        exp_table = [max(1, round(one * math.exp(-i / 16))) for i in range(p.exp_entries)]
    routing = {}  # the selection biases and the shared gate, where the Params have them
    if p.choice_bias:  # mostly within a score's range, so that they reorder the choices
        low, high = -(1 << (p.bias_width - 1)), (1 << (p.bias_width - 1)) - 1
        bias = [rng.randint(-one // 2, one // 2) for _ in range(p.experts)]
        bias[rng.randrange(p.experts)] = rng.choice([low, high])
        routing["choice_bias"] = torch.tensor(bias)
    if p.shared_gate:  # logits of either sign, their magnitudes over the exp table
        routing |= {
            "shared_gate": torch.randint(-spread, spread, (d,), generator=g),
            "shared_gate_scale": (
                rng.randrange(1 << 30, 1 << 31),
                _shift_for(p, logit_spread, 1 if fine_router else 32),
            ),
        }
    return IntegerMoELayer(
        params=p,
        router=router,
        exp_table=torch.tensor(exp_table),
        act_table=torch.tensor([rng.randint(-128, 127) for _ in range(256)]),
        router_scale=(
            rng.randrange(1 << 30, 1 << 31),
            _shift_for(p, logit_spread, 1 if fine_router else logit_target),
        ),
        product_scale=(rng.randrange(1 << 30, 1 << 31), _shift_for(p, 64 * 64, 60)),
        experts=tuple(experts),
        **routing,
    )


def _expert_biases(rng: random.Random, p: MoELayerParams) -> dict:
    """``b1`` about the pre-activations' size, ``b2`` about the down sums', each with one
    extreme of its width."""

    def biases(count: int, typical: int, width: int) -> torch.Tensor:
        values = [rng.randint(-typical, typical) for _ in range(count)]
        values[rng.randrange(count)] = rng.choice([-(1 << (width - 1)), (1 << (width - 1)) - 1])
        return torch.tensor(values)

    return {
        "up_bias": biases(p.expert_hidden, 64, p.unit_bias_width),
        "down_bias": biases(p.hidden, 1 << min(12, p.output_bias_width - 3), p.output_bias_width),
    }


def random_tokens(params: MoELayerParams, n: int, seed: int):
    """``(x, scale codes)``: ``n`` random int8 tokens and codes around ``2**(w-1)``."""
    g = torch.Generator().manual_seed(seed)
    w = params.token_scale_width
    x = torch.randint(-128, 128, (n, params.hidden), generator=g)
    codes = torch.randint(1 << (w - 2), 1 << w, (n,), generator=g)
    return x, codes


def edge_tokens(params: MoELayerParams):
    """All -128, all 127, zeros and alternating extremes, with the extreme scale codes."""
    d = params.hidden
    top = (1 << params.token_scale_width) - 1
    x = torch.tensor([[-128] * d, [127] * d, [0] * d, [127 if k % 2 else -128 for k in range(d)]])
    return x, torch.tensor([top, top, 0, 1])
