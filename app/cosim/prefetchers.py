"""Who asks for experts ahead of the layer that needs them during decode, each where it would run
in a real system, and when its requests are ready:

- ``preattn``: the pre-attention predictor unit (:mod:`moetile.hw.predictor`) on the fast
  harness, on the layer's pre-attention state (layer 0 included), as the host's attention
  starts; its requests are ready once the unit's last prediction is out.
- ``fate``: Fate's cross-layer rule, the next layer's router on this layer's router input, on
  the host as this layer's MoE block starts (none for layer 0).
- ``prev``: a previous-layer predictor (trained as ``preattn``'s, on the previous layer's router
  input), on the host at the same point as Fate's rule.
- ``oracle``: the experts the layer's batch will need (from a golden run of the same
  generation), at the earliest point any of the others asks: layer 0's as its attention starts,
  a later layer's as the previous layer's MoE block starts.
- ``none``: no requests (load-on-demand).

Each predictor ranks the experts of every token of the batch and takes its top ``k + extra``; a
batch's requests are the experts any token chose, most chosen first (then the lower index).
"""

from dataclasses import dataclass

import torch

from .settings import PREFETCHERS

__all__ = ["Prefetcher", "Requests", "batch_requests", "make_prefetcher"]


@dataclass(frozen=True)
class Requests:
    """Experts of ``layer`` asked for, in order, ready ``delay`` cycles after the point they
    are made at; ``cycles``: what the predictor itself took (the unit's, on the RTL)."""

    layer: int
    experts: tuple[int, ...]
    delay: int = 0
    cycles: int = 0


def batch_requests(scores: torch.Tensor, count: int) -> tuple[int, ...]:
    """The experts any token's top ``count`` of ``scores`` ``(tokens, experts)`` holds, the
    most chosen first, then the lower index (a token's ties to the lower index too)."""
    order = torch.sort(scores.float(), dim=-1, descending=True, stable=True).indices[:, :count]
    votes = torch.bincount(order.reshape(-1), minlength=scores.shape[1]).tolist()
    return tuple(e for _v, e in sorted((-v, e) for e, v in enumerate(votes) if v))


class Prefetcher:
    """No requests. ``attention(layer, step, state)``: the requests made as the host's
    attention of ``layer`` starts (``state``: its pre-attention state, float ``(B, d)``);
    ``moe(layer, step, gate_input)``: those made as its MoE block starts (for ``layer + 1``)."""

    name = "none"

    def attention(self, layer: int, step: int, state: torch.Tensor) -> Requests | None:
        return None

    def moe(self, layer: int, step: int, gate_input: torch.Tensor) -> Requests | None:
        return None

    def close(self) -> None:
        pass


class OraclePrefetcher(Prefetcher):
    """``truth``: ``(step, layer)`` → the experts the batch needs."""

    name = "oracle"

    def __init__(self, truth: dict, layers: int):
        self.truth, self.layers = truth, layers

    def attention(self, layer, step, state):
        if layer:
            return None
        return Requests(0, tuple(self.truth[step, 0]))

    def moe(self, layer, step, gate_input):
        if layer + 1 >= self.layers:
            return None
        return Requests(layer + 1, tuple(self.truth[step, layer + 1]))


class FatePrefetcher(Prefetcher):
    """The next layer's float router (of ``layers``, the float MoE layers) on this layer's
    router input."""

    name = "fate"

    def __init__(self, layers, count: int):
        self.layers, self.count = layers, count

    def moe(self, layer, step, gate_input):
        if layer + 1 >= len(self.layers):
            return None
        logits = self.layers[layer + 1].route(gate_input.float())[0]
        return Requests(layer + 1, batch_requests(logits, self.count))


class PreviousLayerPrefetcher(Prefetcher):
    """A suite's previous-layer predictors (float) on this layer's router input."""

    name = "prev"

    def __init__(self, suite, count: int):
        self.suite, self.count = suite, count

    def moe(self, layer, step, gate_input):
        if layer + 1 >= len(self.suite.layers):
            return None
        with torch.no_grad():
            scores = self.suite.layers[layer + 1].previous(gate_input.float())
        return Requests(layer + 1, batch_requests(scores, self.count))


class PreAttentionPrefetcher(Prefetcher):
    """A suite's int8 predictors on the predictor unit (fast harness), every prediction
    checked against the golden; the requests ready as the unit's last prediction is out.
    The unit's Params are the suite's with ``k`` = top-k + extra; each layer's weights are
    loaded before its states (the unit is taken to hold every layer's: the load is not
    counted)."""

    name = "preattn"

    def __init__(self, suite, count: int):
        from dataclasses import replace

        from moetile.hw.registry import Design, block
        from moetile.sim.fast import FastSim

        self.suite = suite
        self.params = replace(suite.params, k=count)
        self.session = FastSim(Design(block("predictor"), self.params)).open()

    def attention(self, layer, step, state):
        import numpy as np

        from moetile.sim.predictor_sim import run_predictions
        from moetile.sw.golden.predictor import predictor

        q = self.suite.layers[layer].quantized
        states = q.states(state.float())
        run = run_predictions(
            self.params, q.w1, q.w2, q.multiplier, q.shift, states, session=self.session
        )
        golden = predictor(self.params, q.w1, q.w2, q.multiplier, q.shift, states)
        if not np.array_equal(run.experts, golden.experts.numpy()):
            raise AssertionError(f"the predictor unit differs from its golden at layer {layer}")
        cycles = int(run.stamps["o"][-1] - run.stamps["i_x"][0] + 1)
        votes = torch.zeros(len(states), self.params.experts)
        for token, chosen in enumerate(run.experts.tolist()):
            for rank, e in enumerate(chosen):
                votes[token, e] = self.params.k - rank  # the unit's order, best first
        return Requests(layer, batch_requests(votes, self.params.k), cycles, cycles)

    def close(self):
        self.session.close()


def make_prefetcher(name: str, *, count: int, layers, suite=None, truth=None) -> Prefetcher:
    """The prefetcher ``name`` asking for each token's top ``count``; ``layers``: the model's
    float MoE layers; ``suite``: trained predictors (``preattn``, ``prev``); ``truth``: the
    golden run's experts per ``(step, layer)`` (``oracle``)."""
    if name == "none":
        return Prefetcher()
    if name == "oracle":
        return OraclePrefetcher(truth, len(layers))
    if name == "fate":
        return FatePrefetcher(layers, count)
    if name == "prev":
        return PreviousLayerPrefetcher(suite, count)
    if name == "preattn":
        return PreAttentionPrefetcher(suite, count)
    raise ValueError(f"prefetch must be one of {', '.join(PREFETCHERS)}, not {name!r}")


#: The predictors trained for a model when ``--predictor`` names none: on this many training
#: tokens, as ``moetile bench predictor`` trains them (rank, loss), fewer steps.
SUITE_TOKENS, SUITE_RANK, SUITE_LOSS, SUITE_STEPS, SUITE_MACS = 4096, 32, "pairwise", 300, 8


def _digest(model) -> str:
    """A digest of the model's weights: predictors trained on it are its own."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def check_suite(suite, model, where: str) -> None:
    """Refuse predictors trained for a model of other layers or dimensions."""
    config = model.config
    want = (
        config.num_hidden_layers,
        config.hidden_size,
        config.num_local_experts,
        config.num_experts_per_tok,
    )
    p = suite.params
    got = (len(suite.layers), p.hidden, p.experts, p.k)
    if got != want:
        raise ValueError(
            f"{where} holds predictors for {suite.model!r} ({got[0]} layers, hidden {got[1]}, "
            f"{got[2]} experts, top-{got[3]}), not this model ({want[0]} layers, hidden "
            f"{want[1]}, {want[2]} experts, top-{want[3]})"
        )


def trained_suite(
    model,
    folder,
    *,
    tokens: int,
    steps: int,
    progress,
    rank=SUITE_RANK,
    loss=SUITE_LOSS,
    macs=SUITE_MACS,
):
    """``folder``, holding predictors trained on ``model`` (``tokens`` of the training text
    traced, ``steps`` per predictor), once: made under its lock when missing."""
    from moetile.sw.models.corpus import stdlib_corpus
    from moetile.sw.models.trace import passages_of, record_hf_trace
    from moetile.sw.paths import locked_file
    from moetile.sw.predictor.suite import save_suite, train_suite

    with locked_file(folder.with_name(f".{folder.name}.lock")):
        if not (folder / "predictor.json").is_file():
            progress(f"training the model's expert predictors once into {folder}")
            train, _ = stdlib_corpus().split_bytes()
            context = model.config.max_position_embeddings
            passages = passages_of(train, context, tokens)
            trace = record_hf_trace(model, passages, folder.name, "train")
            suite = train_suite(
                trace,
                rank=rank,
                loss=loss,
                steps=steps,
                seed=0,
                macs=macs,
                progress=lambda text: None,
            )
            save_suite(suite, folder)
    return folder


def predictor_suite(model, folder: str | None, progress):
    """The predictors of ``folder`` (``moetile predictor train``), checked against ``model``;
    or, with none, predictors trained on ``model`` once into the cache."""
    from pathlib import Path

    from moetile.sw.paths import cache_root
    from moetile.sw.predictor.suite import load_suite

    if folder is not None:
        suite = load_suite(Path(folder))
        check_suite(suite, model, f"--predictor {folder}")
        return suite
    path = cache_root() / "predictors" / f"model-{_digest(model)}"
    trained_suite(model, path, tokens=SUITE_TOKENS, steps=SUITE_STEPS, progress=progress)
    suite = load_suite(path)
    check_suite(suite, model, str(path))
    return suite
