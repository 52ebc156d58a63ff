"""Quantization of an :class:`~moetile.sw.models.moe_layer.FloatMoELayer` for the MoE layer
accelerator with its expert engine, and the host's side of the integer interface.

What the accelerator holds (every scale a float on the host, a multiplier and shift on chip):

- **Tokens**: int8 with a per-token scale ``q * unit``, ``q`` an unsigned code chosen so the
  token's largest magnitude maps to at most 127 (never saturated); ``unit`` is fixed per layer
  from calibration so the calibration maximum has code ``2**(w-3)`` (8× headroom).
- **Router**: int8 gate weights with one per-tensor scale (so integer logits order like float
  ones); the exp table covers ``exp(-t)`` for ``t`` in ``[0, (gate_frac + 1) ln 2)``. A
  shared-expert gate (Qwen2-MoE) is one more int8 row with its own scale, its logit's
  magnitude requantized onto the same exp table. Sigmoid scoring (DeepSeek-V3, GLM-4.5) puts
  ``sigmoid(t)`` in that table over the same range; its selection biases are fixed-point in a
  score's units; routed scaling is folded into the routed experts' combine multipliers.
  Unweighted scoring (CMoE) requantizes each logit to steps of ``1 / 2**gate_frac`` of the
  calibration's largest, its logit bias in the same steps.
- **Experts**: for the FAT engine, ternary codes with per-row scales (exactly the model's
  weights, or refused); for the MixPE engine, W4A8 by
  :func:`~moetile.sw.quant.w4a8.quantize_groups` (asymmetric int4 groups, each row's scale
  codes in units of its own step, which plays the part of the ternary row scale); for the
  crossbar engine, symmetric int8 per row (:func:`~moetile.sw.engines.xbar.int8_rows`). The gate
  and up sums are requantized to int8 at per-layer activation scales calibrated as the
  largest magnitude seen on calibration tokens (larger values saturate, as the hardware does);
  the activation table maps the gate's int8 code to ``act`` at its own scale; the gated product
  is requantized at a calibrated per-layer hidden scale.
- **Combine**: per output row ``C = alpha * s_h * 2**out_shift / (s_out * 2**gate_frac)``, with
  ``s_out`` chosen so the largest ``C`` fills ``combine_multiplier_width`` bits.
"""

import math
from dataclasses import dataclass

import torch

from moetile.hw.moe import MoELayerParams
from moetile.hw.moe.engines import engine_params
from moetile.sw.engines import engine_software
from moetile.sw.golden.moe_layer import IntegerExpert, IntegerMoELayer
from moetile.sw.models.moe_layer import ACTIVATIONS, Expert, FloatMoELayer
from moetile.sw.quant.fixed import fixed_point_pair

__all__ = ["QuantizedLayer", "check_supported", "layer_params", "quantize_layer"]

#: Activations whose lookup table the accelerator can hold.
TABLE_ACTIVATIONS = ("silu", "gelu", "gelu_tanh", "relu")


def check_supported(layer: FloatMoELayer, where: str, engine="fat") -> None:
    """Refuse, naming the feature, a layer the accelerator with ``engine`` (its Params or
    its name) cannot run."""
    engine = engine_params(engine)
    software = engine_software(engine)
    softmax, unweighted = layer.scoring == "softmax", layer.scoring == "unweighted"
    unsupported = {
        f"{layer.routing} routing": layer.routing == "sparsemixer",
        # Unweighted, a bias on the logits only chooses: it is the selection bias.
        "a bias on the router's logits": layer.gate_bias is not None and not unweighted,
        "a selection bias on softmax scores": softmax and layer.choice_bias is not None,
        "a bias on the logits and a selection bias": unweighted
        and layer.gate_bias is not None
        and layer.choice_bias is not None,
        "group-limited top-k of softmax scores": softmax and layer.groups != 1,
        "experts chosen by their logits": layer.choose_on_logits and not unweighted,
        "soft-capped logits": layer.logit_softcap != 0.0,
        f"top-k normalized by a {layer.normalize_p:g}-norm": layer.normalize_top_k
        and layer.normalize_p != 1.0,
        "a floor under the top-k's norm": layer.normalize_top_k and layer.normalize_floor > 0,
        "a sigmoid gate on shared experts beside sigmoid scores": not softmax
        and layer.shared_gate is not None,
    }
    found = [name for name, bad in unsupported.items() if bad]
    if found:
        raise ValueError(
            f"{where}: the accelerator routes by softmax or sigmoid top-k (with a selection "
            f"bias and groups for sigmoid) or softmax expert choice; this layer uses "
            f"{', '.join(found)}"
        )
    experts = (*layer.experts, *layer.shared)
    gated = experts[0].gate is not None
    for n, expert in enumerate(experts):
        if (expert.gate is not None) != gated:
            raise ValueError(f"{where}: gated and ungated experts in one layer (expert {n})")
        if gated and (expert.up_bias is not None or expert.down_bias is not None):
            raise ValueError(f"{where}: expert {n} is a gated expert with biases")
        if expert.swiglu_limit is not None or expert.activation not in TABLE_ACTIVATIONS:
            raise ValueError(f"{where}: expert {n}'s activation is not a table activation")
        if expert.activation != experts[0].activation:
            raise ValueError(f"{where}: experts with different activations (expert {n})")
        for name in ("gate", "up", "down") if gated else ("up", "down"):
            software.check_weights(getattr(expert, name), f"{where}: expert {n} {name}")


def layer_params(layer: FloatMoELayer, max_tokens: int, **hardware) -> MoELayerParams:
    """Params that fit ``layer``; ``hardware`` sets lanes, arrays and the other knobs."""
    expert = layer.experts[0]
    # Expert choice: every expert's softmax weight, each expert keeping its tokens.
    routing = {}
    if layer.routing == "expert_choice":
        routing = {"routing": "expert_choice", "capacity": layer.capacity}
    choice = bool(routing)
    return MoELayerParams(
        hidden=layer.hidden,
        expert_hidden=expert.up.shape[0],
        experts=len(layer.experts),
        shared_experts=len(layer.shared),
        top_k=len(layer.experts) if choice else layer.top_k,
        renormalize=choice or layer.normalize_top_k,
        gated=expert.gate is not None,
        expert_bias=any(
            e.up_bias is not None or e.down_bias is not None
            for e in (*layer.experts, *layer.shared)
        ),
        shared_gate=layer.shared_gate is not None,
        scoring=layer.scoring,
        choice_bias=_selection_bias(layer) is not None,
        groups=layer.groups,
        topk_groups=layer.topk_groups,
        group_score=layer.group_score,
        max_tokens=max_tokens,
        **routing,
        **hardware,
    )


def _pair(real: float, where: str) -> tuple[int, int]:
    """``(M, S)`` with ``M / 2**S`` = ``real``, ``M`` in ``[2**30, 2**31)``."""
    return fixed_point_pair(real, 31, 63, where)


@dataclass(frozen=True)
class QuantizedLayer:
    """An integer layer and the host's scales around it."""

    integer: IntegerMoELayer
    token_unit: float
    out_scale: float

    @property
    def params(self) -> MoELayerParams:
        return self.integer.params

    def encode(self, x: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(int8 tokens, scale codes)`` of float tokens ``(n, d)``."""
        if not torch.isfinite(x).all():
            raise ValueError(f"{where}: hidden states hold NaN or inf")
        top = (1 << self.params.token_scale_width) - 1
        amax = x.abs().amax(dim=1).to(torch.float64)
        codes = torch.ceil(amax / 127 / self.token_unit).clamp(min=1).to(torch.int64)
        if codes.max() > top:
            token = int(codes.argmax())
            raise ValueError(
                f"{where}: token {token}'s largest value {float(amax[token]):.4g} is beyond the "
                f"layer's calibrated range ({top * 127 * self.token_unit:.4g})"
            )
        scale = codes.to(torch.float64) * self.token_unit
        q = (x.to(torch.float64) / scale[:, None]).round().clamp(-127, 127).to(torch.int64)
        return q, codes

    def decode(self, result: torch.Tensor) -> torch.Tensor:
        return result.to(torch.float64) * self.out_scale


def quantize_layer(
    layer: FloatMoELayer, params: MoELayerParams, calibration: torch.Tensor, where: str
) -> QuantizedLayer:
    """Quantize ``layer`` for ``params`` with scales calibrated on float tokens ``(n, d)``."""
    p = params
    check_supported(layer, where, p.engine)
    software = engine_software(p)
    w = p.token_scale_width
    experts = (*layer.experts, *layer.shared)
    amax = float(calibration.abs().max())
    token_unit = (amax if amax > 0 else 1.0) / 127 / (1 << (w - 3))

    # Router: one scale for the gate; exp table steps.
    gate_scale = float(layer.gate.abs().max()) / 127 or 1.0
    router = (layer.gate / gate_scale).round().clamp(-127, 127).to(torch.int64)
    step = (p.gate_frac + 1) * math.log(2) / p.exp_entries
    score = (lambda t: 1 / (1 + math.exp(-t))) if p.scoring == "sigmoid" else math.exp
    sign = 1 if p.scoring == "sigmoid" else -1
    exp_table = torch.tensor(
        [round((1 << p.gate_frac) * score(sign * i * step)) for i in range(p.exp_entries)]
    )
    if p.scoring == "unweighted":
        # Logits in steps of 1/2**gate_frac of the calibration's largest (bias included).
        step = _largest_logit(layer, calibration) / (1 << p.gate_frac)
    router_pair = _pair(gate_scale * token_unit * (1 << w) / step, f"{where} router")
    extra = {}
    if p.choice_bias:
        # In units of a score: a logit step for unweighted scoring, 1.0 for sigmoid.
        unit = step * (1 << p.gate_frac) if p.scoring == "unweighted" else 1.0
        extra["choice_bias"] = _bias_codes(p, _selection_bias(layer) / unit, where)
    if p.shared_gate:  # its own int8 scale, its logit's magnitude on the same exp table
        row = layer.shared_gate[0]
        row_scale = float(row.abs().max()) / 127 or 1.0
        extra["shared_gate"] = (row / row_scale).round().clamp(-127, 127).to(torch.int64)
        extra["shared_gate_scale"] = _pair(
            row_scale * token_unit * (1 << w) / step, f"{where} shared gate"
        )

    # Activation scales from the calibration tokens' routed experts: the activation's input
    # (gate, or an ungated expert's up with its bias), the up projection, the hidden values.
    pre_max, up_max, hidden_max = _activation_ranges(layer, calibration)
    act = ACTIVATIONS[experts[0].activation]
    s_pre, s_up = pre_max / 127, up_max / 127
    codes = torch.arange(256)
    values = torch.where(codes < 128, codes, codes - 256).to(torch.float64) * s_pre
    activated = act(values)
    s_act = float(activated.abs().max()) / 127 or 1.0
    act_table = (activated / s_act).round().clamp(-128, 127).to(torch.int64)
    if p.gated:
        s_hidden = hidden_max / 127
        product_pair = _pair(s_act * s_up / s_hidden, f"{where} gated product")
    else:  # the table's entry is the hidden value
        s_hidden, product_pair = s_act, (0, 0)

    alphas = []
    integer_experts = []
    names = ("gate", "up", "down") if p.gated else ("up", "down")
    pre = "gate" if p.gated else "up"
    for n, expert in enumerate(experts):
        parts = {
            name: software.quantize_rows(p, getattr(expert, name), f"{where}: expert {n} {name}")
            for name in names
        }
        alphas.append(parts["down"][1])
        fields = {
            "gate": None,
            "gate_scale": None,
            "up": parts["up"][0],
            "down": parts["down"][0],
            f"{pre}_scale": _row_pairs(parts[pre][1], token_unit * (1 << w) / s_pre, where),
        }
        if p.gated:
            fields["gate"] = parts["gate"][0]
            fields["up_scale"] = _row_pairs(parts["up"][1], token_unit * (1 << w) / s_up, where)
        if p.expert_bias:
            fields.update(_expert_bias_codes(p, expert, parts["down"][1], s_pre, s_hidden, where))
        integer_experts.append(fields)
    # Routed scaling lives in the routed experts' combine multipliers.
    alphas = [a * layer.routed_scale if n < p.experts else a for n, a in enumerate(alphas)]
    top = (1 << p.combine_multiplier_width) - 1
    ratio = (1 << p.out_shift) / (1 << p.gate_frac) * s_hidden
    largest = max(float(a.max()) for a in alphas) or 1.0
    out_scale = largest * ratio / top
    for fields, alpha in zip(integer_experts, alphas, strict=True):
        fields["combine"] = (alpha.to(torch.float64) * ratio / out_scale).round().to(torch.int64)
    integer = IntegerMoELayer(
        params=p,
        router=router,
        exp_table=exp_table,
        act_table=act_table,
        router_scale=router_pair,
        product_scale=product_pair,
        experts=tuple(IntegerExpert(**fields) for fields in integer_experts),
        **extra,
    )
    integer.check()
    return QuantizedLayer(integer, token_unit, out_scale)


def _expert_bias_codes(p, expert: Expert, alpha, s_pre: float, s_hidden: float, where: str):
    """An ungated expert's ``b1`` in its pre-activation's int8 steps and ``b2`` in units of
    its down rows' exact sums (``alpha * s_hidden``; a missing bias is zero), refused where
    they do not fit their widths."""
    f, d = expert.up.shape
    up = torch.zeros(f) if expert.up_bias is None else expert.up_bias.double()
    down = torch.zeros(d) if expert.down_bias is None else expert.down_bias.double()
    unit = alpha.double() * s_hidden
    if ((unit == 0) & (down != 0)).any():
        raise ValueError(f"{where}: a down row of zeros with a bias the engine cannot hold")
    codes = {
        "up_bias": ((up / s_pre).round(), p.unit_bias_width),
        "down_bias": ((down / torch.where(unit == 0, 1.0, unit)).round(), p.output_bias_width),
    }
    for name, (values, width) in codes.items():
        if not torch.isfinite(values).all() or values.abs().max() >= 1 << (width - 1):
            raise ValueError(f"{where}: an expert's {name} is beyond its {width}-bit code")
    return {name: values.to(torch.int64) for name, (values, _width) in codes.items()}


def _selection_bias(layer: FloatMoELayer) -> torch.Tensor | None:
    """The bias that only chooses: the selection bias, or an unweighted router's logit bias."""
    if layer.scoring == "unweighted" and layer.gate_bias is not None:
        return layer.gate_bias
    return layer.choice_bias


def _largest_logit(layer: FloatMoELayer, calibration: torch.Tensor) -> float:
    logits = layer.route(calibration)[0]
    return float(logits.abs().max()) or 1.0


def _bias_codes(p: MoELayerParams, bias: torch.Tensor, where: str) -> torch.Tensor:
    """The selection biases (in scores, or in logit steps) in units of ``2**-gate_frac``,
    refused beyond ±2."""
    if not torch.isfinite(bias).all():
        raise ValueError(f"{where}: the selection bias holds NaN or inf")
    codes = (bias.double() * (1 << p.gate_frac)).round().to(torch.int64)
    low, high = -(1 << (p.bias_width - 1)), (1 << (p.bias_width - 1)) - 1
    if codes.min() < low or codes.max() > high:
        raise ValueError(
            f"{where}: a selection bias of {float(bias.abs().max()):.4g} is beyond the "
            f"accelerator's range [-2, 2)"
        )
    return codes


def _row_pairs(alpha: torch.Tensor, factor: float, where: str) -> torch.Tensor:
    pairs = [_pair(float(a) * factor, where) if a > 0 else (0, 0) for a in alpha.tolist()]
    return torch.tensor(pairs, dtype=torch.int64)


@torch.no_grad()
def _activation_ranges(layer: FloatMoELayer, x: torch.Tensor) -> tuple[float, float, float]:
    """Largest |gate|, |up| and |act(gate) * up| over the experts each calibration token uses."""
    _, _, chosen = layer.route(x)
    gate_max = up_max = hidden_max = 1e-12
    for e, expert in enumerate((*layer.experts, *layer.shared)):
        rows = (
            (chosen == e).any(dim=1) if e < len(layer.experts) else torch.ones(len(x), dtype=bool)
        )
        if not rows.any():
            continue
        gate, up, hidden = _expert_parts(expert, x[rows])
        gate_max = max(gate_max, float(gate.abs().max()))
        up_max = max(up_max, float(up.abs().max()))
        hidden_max = max(hidden_max, float(hidden.abs().max()))
    return gate_max, up_max, hidden_max


def _expert_parts(expert: Expert, x: torch.Tensor):
    """``(the activation's input, up, hidden)``: for an ungated expert the input is its up
    projection with its bias, and its hidden values the activation of it."""
    act = ACTIVATIONS[expert.activation]
    up = x @ expert.up.T
    if expert.gate is None:
        pre = up if expert.up_bias is None else up + expert.up_bias
        return pre, pre, act(pre)
    gate = x @ expert.gate.T
    return gate, up, act(gate) * up
