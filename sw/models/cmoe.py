"""CMoE (arXiv 2502.04416): carve a dense FFN into shared and routed experts, without training
the experts, and give it a router.

Per layer, from the FFN activations ``a = GELU(W1 h + b1)`` of calibration tokens:

1. Activation markers: for each token, the ``marker_fraction`` of neurons with the largest
   ``|a|`` are marked. A neuron's activation rate is how often it is marked.
2. Shared experts: the ``shared`` × ``expert_size`` neurons with the highest rates, always on.
3. Routed experts: the other neurons, clustered by their marker vectors (one entry per token)
   with balanced k-means (every cluster exactly ``expert_size`` neurons: each step's assignment
   is a linear assignment problem). Each expert's representative is the neuron nearest its
   centroid.
4. Routers (all pick ``k`` routed experts per token; chosen experts add with weight 1, so with
   every expert on the layer is the dense FFN):
   ``cmoe``: CMoE's score ``|GELU(w1[rep] h + b1[rep])|``; ``linear``: the representative's
   pre-activation ``w1[rep] h + b1[rep]``; ``calibrated``: a linear gate trained on calibration
   tokens with ListMLE to rank experts by the norm of their output contribution (CMoE's
   optional light fine-tuning, applied to the router only); ``random``: uniform choice, the
   reference a router must beat; ``oracle``: the true ranking, the bound.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from moetile.hw.checks import check_int

__all__ = ["ROUTERS", "CMoEFeedForward", "CMoESettings", "convert_ffn"]

ROUTERS = ("cmoe", "linear", "calibrated", "random", "oracle")


@dataclass(frozen=True)
class CMoESettings:
    experts: int = 8  # shared + routed, equal sizes
    shared: int = 1
    marker_fraction: float = 0.1
    kmeans_steps: int = 8
    gate_steps: int = 300
    seed: int = 0

    def __post_init__(self):
        check_int("experts", self.experts, minimum=2)
        check_int("shared", self.shared, minimum=0, maximum=self.experts - 1)
        check_int("kmeans_steps", self.kmeans_steps, minimum=1)
        check_int("gate_steps", self.gate_steps, minimum=0)
        if not 0 < self.marker_fraction <= 1:
            raise ValueError(f"marker_fraction must be in (0, 1], not {self.marker_fraction}")

    @property
    def routed(self) -> int:
        return self.experts - self.shared


class CMoEFeedForward(torch.nn.Module):
    """A converted FFN: ``b2 + shared(h) + sum over the k chosen routed experts``.

    Each expert ``e`` is the neurons ``index[e]`` of the dense FFN:
    ``W2[:, S_e] GELU(W1[S_e] h + b1[S_e])``.
    """

    def __init__(self, w1, b1, w2, b2, shared, routed, representatives, gate):
        super().__init__()
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2
        self.shared_index = shared  # (shared neurons,)
        self.routed_index = routed  # (routed experts, expert_size)
        self.representatives = representatives  # (routed experts,)
        self.gate = gate  # (weight (E, d), bias (E,)) of the calibrated router, or None
        self.router, self.k = "calibrated", routed.shape[0]

    def float_layer(self, k: int, router: str = "calibrated"):
        """The converted FFN as a :class:`~moetile.sw.models.moe_layer.FloatMoELayer` of
        ungated GELU experts with biases, choosing ``k`` routed experts with weight 1 by
        ``router``'s linear scores: the calibrated gate, or (``linear``) the representatives'
        pre-activations. The shared neurons are shared experts of the routed experts' size,
        the first carrying ``b2``. Its forward equals :meth:`forward` with that router."""
        from .moe_layer import Expert, FloatMoELayer

        gates = {"calibrated": self.gate, "linear": self._linear_gate()}
        if router not in gates or gates[router] is None:
            raise ValueError(
                f"router {router!r} is not a linear gate the accelerator holds: calibrated "
                "(after conversion) or linear"
            )
        size = self.routed_index.shape[1]
        shared = self.shared_index.reshape(-1, size)
        if not len(shared):
            raise ValueError("the layer needs a shared expert to carry the FFN's output bias b2")

        def expert(index: torch.Tensor, down_bias=None) -> Expert:
            return Expert(
                up=self.w1[index],
                down=self.w2[:, index],
                up_bias=self.b1[index],
                down_bias=down_bias,
                activation="gelu",
            )

        weight, bias = gates[router]
        return FloatMoELayer(
            gate=weight,
            gate_bias=bias,
            top_k=k,
            normalize_top_k=False,
            experts=tuple(expert(index) for index in self.routed_index),
            shared=tuple(expert(ix, self.b2 if n == 0 else None) for n, ix in enumerate(shared)),
            name="cmoe",
            scoring="unweighted",
            choose_on_logits=True,
        )

    def dense_layer(self):
        """The dense FFN as a :class:`~moetile.sw.models.moe_layer.FloatMoELayer` of one
        always-on expert (every neuron, with ``b1`` and ``b2``), the baseline of
        :meth:`float_layer` on the same hardware. Its router has one expert to choose, so its
        row (the mean up-projection row) never changes the choice."""
        from .moe_layer import Expert, FloatMoELayer

        expert = Expert(
            up=self.w1, down=self.w2, up_bias=self.b1, down_bias=self.b2, activation="gelu"
        )
        return FloatMoELayer(
            gate=self.w1.mean(0, keepdim=True),
            top_k=1,
            normalize_top_k=False,
            experts=(expert,),
            name="dense",
            scoring="unweighted",
            choose_on_logits=True,
        )

    def _linear_gate(self) -> tuple[torch.Tensor, torch.Tensor]:
        rep = self.representatives
        return self.w1[rep], self.b1[rep]

    def expert_outputs(self, h: torch.Tensor) -> torch.Tensor:
        """``(tokens, routed experts, d)``: every routed expert's contribution."""
        idx = self.routed_index
        act = F.gelu(torch.einsum("td,esd->tes", h, self.w1[idx]) + self.b1[idx])
        return torch.einsum("tes,eds->ted", act, self.w2[:, idx].permute(1, 0, 2))

    def shared_output(self, h: torch.Tensor) -> torch.Tensor:
        idx = self.shared_index
        return F.gelu(h @ self.w1[idx].T + self.b1[idx]) @ self.w2[:, idx].T + self.b2

    def scores(self, h: torch.Tensor, router: str, contributions=None) -> torch.Tensor:
        rep = self.representatives
        if router == "cmoe":
            return F.gelu(h @ self.w1[rep].T + self.b1[rep]).abs()
        if router == "linear":
            return h @ self.w1[rep].T + self.b1[rep]
        if router == "calibrated":
            return h @ self.gate[0].T + self.gate[1]
        if router == "oracle":
            return contributions.norm(dim=-1)
        generator = torch.Generator().manual_seed(len(h))
        return torch.rand(len(h), len(rep), generator=generator)

    def choose(self, h, router: str, k: int, contributions=None) -> torch.Tensor:
        scores = self.scores(h, router, contributions)
        return torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, :k]

    def forward(self, h: torch.Tensor, router: str | None = None, k: int | None = None):
        router, k = router or self.router, self.k if k is None else k
        flat = h.reshape(-1, h.shape[-1])
        contributions = self.expert_outputs(flat)
        chosen = self.choose(flat, router, k, contributions)
        picked = torch.gather(contributions, 1, chosen[..., None].expand(-1, -1, flat.shape[-1]))
        return (self.shared_output(flat) + picked.sum(1)).reshape(h.shape)


def convert_ffn(w1, b1, w2, b2, calibration: torch.Tensor, settings: CMoESettings):
    """A :class:`CMoEFeedForward` from a dense GELU FFN and calibration inputs ``(T, d)``."""
    neurons = w1.shape[0]
    if neurons % settings.experts:
        raise ValueError(f"experts must divide the FFN's {neurons} neurons, not {settings.experts}")
    if len(calibration) < 2 * settings.experts:
        raise ValueError(
            f"calibration needs at least {2 * settings.experts} tokens, "
            f"not {len(calibration)}: text too short to calibrate"
        )
    size = neurons // settings.experts
    act = F.gelu(calibration @ w1.T + b1)
    marked = _markers(act, settings.marker_fraction)
    rate = marked.mean(0)
    order = torch.sort(rate, descending=True, stable=True).indices
    shared, rest = order[: settings.shared * size], order[settings.shared * size :]
    clusters, representatives = _balanced_kmeans(marked[:, rest].T, settings.routed, size, settings)
    ffn = CMoEFeedForward(
        w1, b1, w2, b2, torch.sort(shared).values, rest[clusters], rest[representatives], None
    )
    ffn.gate = _calibrate_gate(ffn, calibration, settings)
    return ffn


def _markers(act: torch.Tensor, fraction: float) -> torch.Tensor:
    count = max(1, round(fraction * act.shape[1]))
    top = act.abs().topk(count, dim=1).indices
    return torch.zeros_like(act).scatter_(1, top, 1.0)


def _balanced_kmeans(features: torch.Tensor, clusters: int, size: int, settings: CMoESettings):
    """Equal-size clusters of ``features`` ``(items, dims)``: k-means whose assignment step is
    a linear assignment of items to ``size`` slots per cluster. Returns ``(clusters, size)``
    item indices and each cluster's item nearest its centroid."""
    from scipy.optimize import linear_sum_assignment

    generator = torch.Generator().manual_seed(settings.seed)
    centroids = features[torch.randperm(len(features), generator=generator)[:clusters]]
    for _ in range(settings.kmeans_steps):
        cost = torch.cdist(features.double(), centroids.double()) ** 2
        items, slots = linear_sum_assignment(cost.repeat_interleave(size, dim=1).numpy())
        label = torch.empty(len(features), dtype=torch.long)
        label[torch.as_tensor(items)] = torch.as_tensor(slots) // size
        centroids = torch.stack([features[label == c].mean(0) for c in range(clusters)])
    members = torch.stack([torch.sort(torch.where(label == c)[0]).values for c in range(clusters)])
    distance = torch.cdist(features.double(), centroids.double())
    nearest = torch.stack([members[c][distance[members[c], c].argmin()] for c in range(clusters)])
    return members, nearest


def _calibrate_gate(ffn: CMoEFeedForward, calibration: torch.Tensor, settings: CMoESettings):
    """A linear gate trained with ListMLE to rank routed experts by their output's norm."""
    with torch.no_grad():
        target = ffn.expert_outputs(calibration).norm(dim=-1)
        order = torch.sort(target, dim=-1, descending=True, stable=True).indices
        rep = ffn.representatives
        weight = ffn.w1[rep].clone().requires_grad_(True)
        bias = ffn.b1[rep].clone().requires_grad_(True)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.Adam([weight, bias], lr=1e-2)
    for _ in range(settings.gate_steps):
        batch = torch.randint(
            0, len(calibration), (min(512, len(calibration)),), generator=generator
        )
        scores = torch.gather(calibration[batch] @ weight.T + bias, 1, order[batch])
        # ListMLE: -log P(true order) under the Plackett-Luce model of the scores.
        tail_logsumexp = torch.logcumsumexp(scores.flip(1), dim=1).flip(1)
        loss = (tail_logsumexp - scores).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return weight.detach(), bias.detach()
