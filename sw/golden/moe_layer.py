"""Golden MoE layer: the integer and fixed-point arithmetic of the accelerator, stage by stage.

Every stage is stated here from the arithmetic (integer-only inference, Jacob et al., CVPR 2018),
not from the RTL; the accelerator must equal it bit for bit.

- **requantize** ``(x, m, s)``: ``(x * m + 2**(s-1)) >> s`` (``>>`` floors; no rounding term
  when ``s = 0``): rounding half up.
- **token multiplier** ``(q, M)``: ``(q * M + 2**(w-1)) >> w`` with ``w = token_scale_width``:
  a requantization multiplier ``M`` scaled by the token's scale code ``q`` (a token's scale is
  ``q`` times the layer's scale unit, so every multiplier that meets the token's sums carries it).
- **router**: ``logits = W_g x`` exactly; the ``top_k`` best logits, ties to the lower index;
  for each candidate (the selected experts when ``renormalize``, else every expert) the exp
  table index ``min(requantize(l_max - l_i, token multiplier(q, M_r), S_r), exp_entries - 1)``
  and ``e_i = exp_table[index]``; gating weight ``(e_i << gate_frac) // sum(e)``.
- **sigmoid router** (``scoring = "sigmoid"``): ``logits = W_g x``; each expert's table index
  ``min(requantize(|l_i|, token multiplier(q, M_r), S_r), exp_entries - 1)`` and entry ``t_i``
  (the table holds ``sigmoid(i * step)``), its score ``s_i = t_i`` for ``l_i >= 0``, else
  ``2**gate_frac - t_i``; its choice score ``c_i = s_i + b_i`` (``b``: the selection biases,
  zero without them). With ``groups > 1``, a group's score is its best ``c`` (``max``) or its
  best two's sum (``top2_sum``); the ``topk_groups`` best groups are kept (ties to the lower
  group) and every other expert's ``c`` becomes ``-2**(choice_width - 1)``. The ``top_k``
  best ``c``, ties to the lower index, are chosen; their gating weights are their scores,
  with ``renormalize`` ``(s_i << gate_frac) // max(sum of the chosen s, 1)``. Unweighted
  (``scoring = "unweighted"``, CMoE): ``s_i = clamp(requantize(l_i, token multiplier(q, M_r),
  S_r))`` to the bias's range, chosen the same way, each chosen expert's gate
  ``2**gate_frac``.
- **expert choice** (``routing = "expert_choice"``, ``top_k = experts``): every expert's
  gating weight ``w[t, e]`` as the softmax router gives it; expert ``e`` takes token ``t``
  when fewer than ``capacity`` tokens of the sequence up to ``t`` rank above it by ``w[., e]``
  (ties to the earlier token), the sequence beginning at the last token with ``start`` or
  after ``max_sequence`` tokens (:func:`moetile.sw.golden.gocache.gocache`, recomputed from
  the whole sequence); its result sums only the experts that took it.
- **expert** ``e`` on token ``x``: ``g = G_e x``, ``u = U_e x`` exactly (ternary rows for the
  FAT engine; for the MixPE engine W4A8 rows, weight ``j`` of row ``n`` being
  ``s[n, G] * (q[n, j] - z[n, G])`` for ``j`` in group ``G``; int8 rows for the crossbar
  engine);
  per unit ``j``: ``a = act_table[sat8(requantize(g_j, token multiplier(q, Mg_ej), Sg_ej))]``,
  ``v = sat8(requantize(u_j, token multiplier(q, Mu_ej), Su_ej))``,
  ``h_j = sat8(requantize(a * v, M_p, S_p))``; then ``z = D_e h`` exactly. An ungated expert
  (``gated`` False): ``u = U_e x``, ``h_j = act_table[sat8(requantize(u_j, token
  multiplier(q, Mu_ej), Su_ej) + b1_ej)]`` (``b1``: zero without ``expert_bias``), ``z = D_e
  h + b2_e`` exactly.
- **shared gate** (with ``shared_gate``): ``l_s = w_s x`` exactly; ``e = exp_table[min(
  requantize(|l_s|, token multiplier(q, M_s), S_s), exp_entries - 1)]``, the table's
  ``exp(-|l_s|)``; with ``one = 2**gate_frac``, ``g_s = ((one if l_s >= 0 else e) <<
  gate_frac) // (one + e)``: the sigmoid of ``l_s``, ``1 / (1 + exp(-l))`` for ``l >= 0`` and
  ``exp(l) / (1 + exp(l))`` below.
- **combine**: ``acc = sum over the token's experts of gate * C_e * z`` (shared experts with
  gate ``g_s``, or ``2**gate_frac`` without a shared gate), exactly; ``result =
  requantize(acc, 1, out_shift)``.

``sat8`` clamps to ``[-128, 127]``; the act table is indexed by the int8 value's two's
complement bits (``v & 255``).
"""

from dataclasses import dataclass

import torch

from moetile.hw.moe import ACTIVATION_WIDTH, MoELayerParams
from moetile.hw.topk import TopKParams

from .fixed import check_integer_tensor, signed_range, unsigned_range
from .gocache import GOCacheTrace, gocache
from .topk import top_k

__all__ = [
    "IntegerExpert",
    "IntegerMoELayer",
    "LayerTrace",
    "W4A8Rows",
    "moe_layer",
    "requantize",
    "token_multiplier",
]

INT8 = signed_range(ACTIVATION_WIDTH)


def requantize(x: torch.Tensor, multiplier, shift) -> torch.Tensor:
    """``(x * multiplier + 2**(shift-1)) >> shift``, elementwise, in ``int64``."""
    x, m, s = (torch.as_tensor(v, dtype=torch.int64) for v in (x, multiplier, shift))
    rounding = torch.where(s > 0, torch.ones_like(s) << (s - 1).clamp(min=0), 0)
    return (x * m + rounding) >> s


def token_multiplier(params: MoELayerParams, scale_code, multiplier) -> torch.Tensor:
    w = params.token_scale_width
    q, m = (torch.as_tensor(v, dtype=torch.int64) for v in (scale_code, multiplier))
    return (q * m + (1 << (w - 1))) >> w


def _sat8(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(*INT8)


@dataclass(frozen=True)
class W4A8Rows:
    """A projection's rows as the MixPE engine holds them: ``codes`` ``(N, K')`` in
    ``[0, 15]``, ``scales`` and ``zeros`` ``(N, K' / group)`` (scale codes and zero points),
    ``K'`` the projection's input count rounded up to whole groups (padding codes equal to
    their zero point, weight 0)."""

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    group: int

    def integer_weights(self) -> torch.Tensor:
        """``(N, K')`` ``int64``: ``scales * (codes - zeros)`` weight by weight."""
        spread = {"repeats": self.group, "dim": 1}
        zeros = torch.as_tensor(self.zeros).repeat_interleave(**spread)
        scales = torch.as_tensor(self.scales).repeat_interleave(**spread)
        return scales.to(torch.int64) * (torch.as_tensor(self.codes).to(torch.int64) - zeros)

    def check(self, params: MoELayerParams, name: str, shape: tuple[int, int]) -> None:
        n, k = shape
        group = params.engine.group
        padded = -(-k // group) * group
        if self.group != group:
            raise ValueError(f"{name} has group {self.group}, the engine {group}")
        for part, hi, cols in (
            ("codes", 15, padded),
            ("scales", (1 << params.engine.weight_scale_width) - 1, padded // group),
            ("zeros", 15, padded // group),
        ):
            t = check_integer_tensor(f"{name}.{part}", getattr(self, part), lo=0, hi=hi)
            if tuple(t.shape) != (n, cols):
                raise ValueError(f"{name}.{part} must have shape {(n, cols)}, not {tuple(t.shape)}")
        weights = self.integer_weights()
        if (weights[:, k:] != 0).any():
            raise ValueError(f"{name}: padding past input {k} must be zero weights")


def _check_rows(params: MoELayerParams, name: str, rows, shape: tuple[int, int]) -> None:
    """Rows of the engine's form (ternary for FAT, :class:`W4A8Rows` for MixPE, int8 for the
    crossbar engine) and ``shape``."""
    from moetile.sw.engines import engine_software

    engine_software(params).check_rows(params, name, rows, shape)


def _project(rows, xs: torch.Tensor) -> torch.Tensor:
    """``xs @ rows.T`` exactly, for ternary or W4A8 rows."""
    if isinstance(rows, W4A8Rows):
        weights = rows.integer_weights()
        return xs @ weights[:, : xs.shape[1]].T
    return xs @ torch.as_tensor(rows, dtype=torch.int64).T


@dataclass(frozen=True)
class IntegerExpert:
    """One expert as the engine holds it: weight rows and per-row requantization.

    ``gate``, ``up``: ``(f, d)`` rows; ``down``: ``(d, f)``, ternary in {-1, 0, 1} for the FAT
    engine, :class:`W4A8Rows` for the MixPE engine or int8 for the crossbar engine;
    ``gate_scale``, ``up_scale``: ``(f, 2)`` rows of (multiplier, shift);
    ``combine``: ``(d,)`` combine multipliers. Ungated (``params.gated`` False): ``gate`` and
    ``gate_scale`` None; with ``params.expert_bias``, ``up_bias`` ``(f,)`` and ``down_bias``
    ``(d,)`` (see :attr:`MoELayerParams.unit_bias_width`, ``output_bias_width``).
    """

    gate: torch.Tensor | None
    up: torch.Tensor
    down: torch.Tensor
    gate_scale: torch.Tensor | None
    up_scale: torch.Tensor
    combine: torch.Tensor
    up_bias: torch.Tensor | None = None
    down_bias: torch.Tensor | None = None

    def check(self, params: MoELayerParams, name: str) -> None:
        d, f = params.hidden, params.expert_hidden
        parts = ("gate", "up", "down") if params.gated else ("up", "down")
        shapes = {"gate": (f, d), "up": (f, d), "down": (d, f)}
        for part in parts:
            _check_rows(params, f"{name}.{part}", getattr(self, part), shapes[part])
        for part in ("gate_scale", "up_scale") if params.gated else ("up_scale",):
            _check_scale_pairs(params, f"{name}.{part}", getattr(self, part), f)
        self._check_optional(params, name)
        combine = check_integer_tensor(
            f"{name}.combine",
            self.combine,
            lo=0,
            hi=unsigned_range(params.combine_multiplier_width)[1],
        )
        if tuple(combine.shape) != (d,):
            raise ValueError(f"{name}.combine must have shape {(d,)}, not {tuple(combine.shape)}")

    def _check_optional(self, params: MoELayerParams, name: str) -> None:
        """The gate only when gated, the biases only with ``expert_bias``."""
        for part, wanted in (
            ("gate", params.gated),
            ("gate_scale", params.gated),
            ("up_bias", params.expert_bias),
            ("down_bias", params.expert_bias),
        ):
            if (getattr(self, part) is not None) != wanted:
                need = "needs" if wanted else "takes no"
                raise ValueError(
                    f"{name}.{part}: a layer with gated={params.gated}, "
                    f"expert_bias={params.expert_bias} {need} it"
                )
        if params.expert_bias:
            for part, width, rows in (
                ("up_bias", params.unit_bias_width, params.expert_hidden),
                ("down_bias", params.output_bias_width, params.hidden),
            ):
                low, high = signed_range(width)
                bias = check_integer_tensor(f"{name}.{part}", getattr(self, part), lo=low, hi=high)
                if tuple(bias.shape) != (rows,):
                    raise ValueError(
                        f"{name}.{part} must have shape {(rows,)}, not {tuple(bias.shape)}"
                    )


def _check_scale_pairs(params: MoELayerParams, name: str, pairs, rows: int) -> None:
    t = torch.as_tensor(pairs)
    if tuple(t.shape) != (rows, 2):
        raise ValueError(f"{name} must have shape {(rows, 2)}, not {tuple(t.shape)}")
    check_integer_tensor(
        f"{name} multipliers", t[:, 0], lo=0, hi=(1 << params.multiplier_width) - 1
    )
    check_integer_tensor(f"{name} shifts", t[:, 1], lo=0, hi=(1 << params.shift_width) - 1)


@dataclass(frozen=True)
class IntegerMoELayer:
    """Everything the accelerator holds for one layer, as integers.

    ``router``: ``(E, d)`` int8 gate weights; ``exp_table``: ``(exp_entries,)`` in
    ``[0, 2**gate_frac]`` with entry 0 positive; ``act_table``: ``(256,)`` int8, entry ``i`` the
    activation of the int8 value with bits ``i``; ``router_scale``, ``product_scale``:
    (multiplier, shift); ``experts``: routed experts then shared ones; with
    ``params.shared_gate``, ``shared_gate`` ``(d,)`` int8 weights and ``shared_gate_scale``
    (multiplier, shift), else both None.
    """

    params: MoELayerParams
    router: torch.Tensor
    exp_table: torch.Tensor
    act_table: torch.Tensor
    router_scale: tuple[int, int]
    product_scale: tuple[int, int]
    experts: tuple[IntegerExpert, ...]
    shared_gate: torch.Tensor | None = None
    shared_gate_scale: tuple[int, int] | None = None
    choice_bias: torch.Tensor | None = None

    def check(self) -> None:
        p = self.params
        self._check_shared_gate()
        if (self.choice_bias is not None) != p.choice_bias:
            need = "needs" if p.choice_bias else "takes no"
            raise ValueError(f"choice_bias: Params with choice_bias={p.choice_bias} {need} it")
        if p.choice_bias:
            low, high = signed_range(p.bias_width)
            bias = check_integer_tensor("choice_bias", self.choice_bias, lo=low, hi=high)
            if tuple(bias.shape) != (p.experts,):
                raise ValueError(
                    f"choice_bias must have shape {(p.experts,)}, not {tuple(bias.shape)}"
                )
        router = check_integer_tensor("router", self.router, lo=INT8[0], hi=INT8[1])
        if tuple(router.shape) != (p.experts, p.hidden):
            raise ValueError(
                f"router must have shape {(p.experts, p.hidden)}, not {tuple(router.shape)}"
            )
        table = check_integer_tensor("exp_table", self.exp_table, lo=0, hi=1 << p.gate_frac)
        if tuple(table.shape) != (p.exp_entries,) or table[0] < 1:
            raise ValueError(f"exp_table must hold {p.exp_entries} entries, the first positive")
        act = check_integer_tensor("act_table", self.act_table, lo=INT8[0], hi=INT8[1])
        if tuple(act.shape) != (1 << ACTIVATION_WIDTH,):
            raise ValueError(f"act_table must hold {1 << ACTIVATION_WIDTH} entries")
        for name in ("router_scale", "product_scale"):
            _check_scale_pairs(p, name, [getattr(self, name)], 1)
        if len(self.experts) != p.total_experts:
            raise ValueError(
                f"the layer needs {p.total_experts} experts ({p.experts} routed, "
                f"{p.shared_experts} shared), not {len(self.experts)}"
            )
        for e, expert in enumerate(self.experts):
            expert.check(p, f"expert {e}")

    def _check_shared_gate(self) -> None:
        p = self.params
        given = (self.shared_gate is not None, self.shared_gate_scale is not None)
        if given != (p.shared_gate, p.shared_gate):
            need = "need" if p.shared_gate else "take no"
            raise ValueError(
                f"shared_gate and shared_gate_scale: Params with shared_gate={p.shared_gate} "
                f"{need} them"
            )
        if p.shared_gate:
            row = check_integer_tensor("shared_gate", self.shared_gate, lo=INT8[0], hi=INT8[1])
            if tuple(row.shape) != (p.hidden,):
                raise ValueError(
                    f"shared_gate must have shape {(p.hidden,)}, not {tuple(row.shape)}"
                )
            _check_scale_pairs(p, "shared_gate_scale", [self.shared_gate_scale], 1)


@dataclass(frozen=True)
class LayerTrace:
    """The golden's intermediate results: ``choices`` ``(n, top_k)`` expert indices,
    ``gates`` ``(n, top_k)`` gating weights, ``result`` ``(n, d)``; with expert choice,
    ``taken`` ``(n, top_k)``: the chosen expert took the token, and ``selection``: the GO
    cache's updates (per expert, ``take[t, e]``; ``scanned``)."""

    choices: torch.Tensor
    gates: torch.Tensor
    result: torch.Tensor
    taken: torch.Tensor | None = None
    selection: GOCacheTrace | None = None


def moe_layer(layer: IntegerMoELayer, x, scale_codes, starts=None) -> LayerTrace:
    """The accelerator's result for tokens ``x`` ``(n, d)`` int8 with scale codes ``(n,)``;
    with expert choice, ``starts`` ``(n,)`` marks the tokens that begin a sequence, the
    first among them (the tokens are the stream since a sequence began)."""
    p = layer.params
    layer.check()
    xs = check_integer_tensor("x", x, lo=INT8[0], hi=INT8[1])
    if xs.ndim != 2 or xs.shape[1] != p.hidden:
        raise ValueError(f"x must have shape (tokens, {p.hidden}), not {tuple(xs.shape)}")
    q = check_integer_tensor(
        "scale_codes", scale_codes, lo=0, hi=unsigned_range(p.token_scale_width)[1]
    )
    if tuple(q.shape) != (xs.shape[0],):
        raise ValueError(f"scale_codes must have shape {(xs.shape[0],)}, not {tuple(q.shape)}")
    choices, gates = _route(layer, xs, q)
    selection = _selection(p, choices, gates, starts) if p.expert_choice else None
    taken = None if selection is None else torch.gather(selection.take, 1, choices)
    acc = torch.zeros(xs.shape[0], p.hidden, dtype=torch.int64)
    shared = _shared_gates(layer, xs, q)
    for e, expert in enumerate(layer.experts):
        if e < p.experts:
            routed = choices == e if taken is None else (choices == e) & taken
            tokens, slot = torch.nonzero(routed, as_tuple=True)
            gate = gates[tokens, slot]
        else:
            tokens = torch.arange(xs.shape[0])
            gate = shared
        if len(tokens):
            z = _expert(layer, expert, xs[tokens], q[tokens])
            acc[tokens] += gate[:, None] * torch.as_tensor(expert.combine)[None, :] * z
    return LayerTrace(choices, gates, requantize(acc, 1, p.out_shift), taken, selection)


def _selection(p: MoELayerParams, choices, gates, starts) -> GOCacheTrace:
    """Expert choice: the GO cache's updates, ranking every expert's gating weights over the
    sequence."""
    if starts is None:
        raise ValueError("expert_choice routing needs starts: where each sequence begins")
    starts = torch.as_tensor(starts, dtype=torch.bool)
    if tuple(starts.shape) != (len(choices),) or (len(starts) and not starts[0]):
        raise ValueError(
            f"starts must have shape ({len(choices)},), its first token beginning a sequence"
        )
    weights = torch.zeros(len(choices), p.experts, dtype=torch.int64)
    weights.scatter_(1, choices, gates)
    return gocache(p.go_cache, weights, starts)


def _route(layer: IntegerMoELayer, xs, q):
    p = layer.params
    if p.scoring != "softmax":
        return _route_scored(layer, xs, q)
    logits = xs @ torch.as_tensor(layer.router, dtype=torch.int64).T
    topk = p.topk
    choices, chosen = top_k(TopKParams(topk.n, topk.k, topk.score_width), logits)
    candidates = chosen if p.renormalize else logits
    m = token_multiplier(p, q, layer.router_scale[0])[:, None]
    delta = chosen[:, :1] - candidates
    index = requantize(delta, m, layer.router_scale[1]).clamp(max=p.exp_entries - 1)
    exps = torch.as_tensor(layer.exp_table, dtype=torch.int64)[index]
    total = exps.sum(dim=1, keepdim=True)
    selected = exps if p.renormalize else torch.gather(exps, 1, choices)
    return choices, (selected << p.gate_frac) // total


def _route_scored(layer: IntegerMoELayer, xs, q):
    """The score router's choices and gates (``sigmoid`` or ``unweighted`` scoring)."""
    p = layer.params
    one = 1 << p.gate_frac
    logits = xs @ torch.as_tensor(layer.router, dtype=torch.int64).T
    m = token_multiplier(p, q, layer.router_scale[0])[:, None]
    if p.scoring == "unweighted":
        bounds = signed_range(p.bias_width)
        scores = requantize(logits, m, layer.router_scale[1]).clamp(*bounds)
    else:
        index = requantize(logits.abs(), m, layer.router_scale[1]).clamp(max=p.exp_entries - 1)
        entry = torch.as_tensor(layer.exp_table, dtype=torch.int64)[index]
        scores = torch.where(logits >= 0, entry, one - entry)
    choice = scores
    if p.choice_bias:
        choice = choice + torch.as_tensor(layer.choice_bias, dtype=torch.int64)[None, :]
    if p.groups > 1:
        choice = _within_best_groups(p, choice)
    choices, _ = top_k(p.topk, choice)
    if p.scoring == "unweighted":
        return choices, torch.full_like(choices, one)
    selected = torch.gather(scores, 1, choices)
    if not p.renormalize:
        return choices, selected
    return choices, (selected << p.gate_frac) // selected.sum(dim=1, keepdim=True).clamp(min=1)


def _within_best_groups(p: MoELayerParams, choice: torch.Tensor) -> torch.Tensor:
    """``choice`` with every expert outside its token's ``topk_groups`` best groups masked."""
    n, size = choice.shape[0], p.experts // p.groups
    best = choice.reshape(n, p.groups, size).sort(dim=-1, descending=True).values
    group_score = best[..., 0] + best[..., 1] if p.group_score == "top2_sum" else best[..., 0]
    groups = TopKParams(p.groups, p.topk_groups, p.choice_width + 1)
    kept_groups, _ = top_k(groups, group_score)
    kept = torch.zeros(n, p.groups, dtype=torch.bool).scatter(1, kept_groups, True)
    lowest = -(1 << (p.choice_width - 1))
    return torch.where(kept.repeat_interleave(size, dim=1), choice, lowest)


def _shared_gates(layer: IntegerMoELayer, xs, q) -> torch.Tensor:
    """Each token's shared-expert gate: its fixed-point sigmoid, or 1.0 without a shared gate."""
    p = layer.params
    one = 1 << p.gate_frac
    if not p.shared_gate:
        return torch.full((xs.shape[0],), one, dtype=torch.int64)
    logit = xs @ torch.as_tensor(layer.shared_gate, dtype=torch.int64)
    multiplier, shift = layer.shared_gate_scale
    m = token_multiplier(p, q, multiplier)
    index = requantize(logit.abs(), m, shift).clamp(max=p.exp_entries - 1)
    e = torch.as_tensor(layer.exp_table, dtype=torch.int64)[index]
    return (torch.where(logit >= 0, one, e) << p.gate_frac) // (one + e)


def _expert(layer: IntegerMoELayer, expert: IntegerExpert, xs, q) -> torch.Tensor:
    """``z = D h`` for tokens ``xs`` with scale codes ``q``."""
    p = layer.params
    if not p.gated:
        return _ungated_expert(layer, expert, xs, q)
    g, u = _project(expert.gate, xs), _project(expert.up, xs)
    gs, us = (torch.as_tensor(s, dtype=torch.int64) for s in (expert.gate_scale, expert.up_scale))
    g8 = _sat8(requantize(g, token_multiplier(p, q[:, None], gs[None, :, 0]), gs[None, :, 1]))
    u8 = _sat8(requantize(u, token_multiplier(p, q[:, None], us[None, :, 0]), us[None, :, 1]))
    a = torch.as_tensor(layer.act_table, dtype=torch.int64)[g8 & 0xFF]
    h = _sat8(requantize(a * u8, *layer.product_scale))
    return _project(expert.down, h)


def _ungated_expert(layer: IntegerMoELayer, expert: IntegerExpert, xs, q) -> torch.Tensor:
    """``z = D act(u + b1) + b2`` for tokens ``xs`` with scale codes ``q``."""
    p = layer.params
    u = _project(expert.up, xs)
    us = torch.as_tensor(expert.up_scale, dtype=torch.int64)
    pre = requantize(u, token_multiplier(p, q[:, None], us[None, :, 0]), us[None, :, 1])
    if p.expert_bias:
        pre = pre + torch.as_tensor(expert.up_bias, dtype=torch.int64)[None, :]
    h = torch.as_tensor(layer.act_table, dtype=torch.int64)[_sat8(pre) & 0xFF]
    z = _project(expert.down, h)
    if p.expert_bias:
        z = z + torch.as_tensor(expert.down_bias, dtype=torch.int64)[None, :]
    return z
