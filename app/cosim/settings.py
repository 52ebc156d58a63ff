"""What ``moetile cosim`` runs, and on what hardware: its settings, checked when made (this
module imports no torch, so the command line is built without it)."""

from dataclasses import dataclass, replace

from moetile.hw.checks import check_choice, check_int
from moetile.hw.expert_cache import ALLOCATIONS, CACHE_POLICIES
from moetile.hw.moe import ENGINES, MoELayerParams
from moetile.sim.offchip import MEMORIES, check_memory_figures
from moetile.sw.cost.fpga import check_clock
from moetile.sw.models import CMOE_MODEL

from .hardware import hardware

__all__ = ["BACKENDS", "COSIM_TRAIN_STEPS", "PREFETCHERS", "CosimSettings"]

#: Backend names, in the order ``moetile cosim --backend`` lists them.
BACKENDS = ("fast", "cocotb", "golden")

#: Who asks for experts ahead of the layers (:mod:`moetile.app.cosim.prefetchers`).
PREFETCHERS = ("none", "preattn", "fate", "prev", "oracle")

#: Training steps of the ternary tiny MoE when ``moetile cosim`` has to make it (the full
#: schedule of ``moetile model train-tiny`` is 800 steps).
COSIM_TRAIN_STEPS = 300

#: The quality step's held-out tokens per co-simulated token, and at most, by default.
QUALITY_PER_TOKEN, QUALITY_TOKENS = 8, 1024


@dataclass(frozen=True)
class CosimSettings:
    """What to co-simulate and on what hardware.

    ``model``: ``tiny-moe`` (the tiny MoE, trained on first use: ternary experts for the FAT
    engine, float experts for MixPE and crossbars), ``cmoe-minilm`` (all-MiniLM-L6-v2
    converted to an MoE by CMoE, 25 % of each FFN active, converted on first use; an encoder
    scored by its sentence embeddings' cosine to the dense model's, its passages the held-out
    docstrings; engine ``xbar`` or ``mixpe``) or a directory holding a tiny MoE; ``tokens``:
    held-out tokens run through the model on the accelerator; ``max_tokens``: the
    accelerator's batch; ``engine``: ``fat``, ``mixpe`` or ``xbar``; ``lanes``, ``arrays``:
    the engine's size (FAT lanes and arrays, MixPE rows and columns, tokens per job and
    crossbar peripheries); ``params``: the layer's and the engine's other knobs,
    ``NAME=VALUE,...`` (:mod:`moetile.app.cosim.hardware`: the router's MACs, fixed-point
    widths, MixPE's group, a crossbar's size; ``None``: their defaults);
    ``calibration``: training-split tokens that set the activation scales;
    ``area``: synthesize the design for its area when the cache does not hold it yet;
    ``clock``: MHz of the printed times (``None``: the design's Fmax from ``moetile
    implement``, else the assumed target clock);
    ``quality_tokens``: held-out tokens on which the float model and the quantized golden are
    compared besides the co-simulated ones (``None``: :data:`QUALITY_PER_TOKEN` per simulated
    token, at most :data:`QUALITY_TOKENS`; see :meth:`resolved`);
    ``generate``: tokens to generate greedily after each of ``prompts`` held-out prompts of
    ``prompt_tokens`` tokens, the prompts decoded together (0: no generation, the prefill run
    of ``tokens``); ``memory``: the off-chip memory the layers' weights are fetched from
    during generation (:data:`~moetile.sim.offchip.MEMORIES`), ``bandwidth`` (GB/s) and
    ``memory_latency`` (ns) replacing its preset's where given; ``cache_slots``: expert slots
    on chip during generation (``None``: half the model's experts; ``0``: none, every layer's
    experts all fetched at every step); ``cache``: their replacement, ``lru`` or ``lfu``, or
    ``none`` (every slot emptied before each batch: each expert a batch needs is fetched,
    load-on-demand without a cache); ``cache_allocation``: ``shared`` (any slot for any layer)
    or ``shallow`` (per-layer quotas favouring the shallow layers, Fate's allocation);
    ``cache_pins``: the most popular experts (on the calibration text) pinned and preloaded;
    ``prefetch``: who asks for experts ahead of each decode step's layers
    (:data:`PREFETCHERS`; ``None``: no prefetch port, and the
    host's attention not counted), each token's top ``top_k + prefetch_extra``;
    ``predictor``: a folder of ``moetile predictor train`` for ``preattn`` and ``prev``
    (``None``: trained on the model once, into the cache);
    ``hf``: in place of ``model``, a random-initialized ``transformers`` model of this
    architecture (a ``config.json``, its folder or a ``model_type``), its sizes capped by
    ``hf_layers``, ``hf_hidden``, ``hf_expert_hidden``, ``hf_experts`` and ``hf_top_k``
    (:mod:`moetile.sw.models.hf_random`)."""

    model: str = "tiny-moe"
    tokens: int = 128
    backend: str = "fast"
    engine: str = "fat"
    max_tokens: int = 128
    lanes: int = 16
    arrays: int = 8
    params: str | None = None
    calibration: int = 512
    quality_tokens: int | None = None
    train_steps: int = COSIM_TRAIN_STEPS
    area: bool = False
    clock: float | None = None
    generate: int = 0
    prompts: int = 4
    prompt_tokens: int = 16
    memory: str = "lpddr5"
    bandwidth: float | None = None
    memory_latency: float | None = None
    cache_slots: int | None = None
    cache: str = "lru"
    cache_allocation: str = "shared"
    cache_pins: int = 0
    prefetch: str | None = None
    prefetch_extra: int = 1
    predictor: str | None = None
    hf: str | None = None
    hf_layers: int = 2
    hf_hidden: int = 64
    hf_expert_hidden: int = 64
    hf_experts: int = 8
    hf_top_k: int = 2

    def __post_init__(self):
        for name in ("tokens", "max_tokens", "lanes", "arrays", "calibration", "train_steps"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("generate", self.generate, minimum=0)
        check_int("prompt_tokens", self.prompt_tokens, minimum=1)
        check_int("prompts", self.prompts, minimum=1)
        if self.prompts > self.max_tokens:
            raise ValueError(
                f"prompts must be at most {self.max_tokens}, not {self.prompts}: a decode "
                f"step, one token of each prompt, runs in one batch of at most --max-tokens "
                f"{self.max_tokens} (an expert's tokens of it in jobs of {self.lanes} lanes)"
            )
        check_choice("memory", self.memory, tuple(MEMORIES))
        check_memory_figures(self.bandwidth, self.memory_latency)
        if self.cache_slots is not None:
            check_int("cache_slots", self.cache_slots, minimum=0, maximum=256)
        check_choice("cache", self.cache, (*CACHE_POLICIES, "none"))
        check_choice("cache_allocation", self.cache_allocation, ALLOCATIONS)
        check_int("cache_pins", self.cache_pins, minimum=0)
        if self.cache == "none" and (self.cache_allocation != "shared" or self.cache_pins):
            raise ValueError(
                "cache none empties every slot before each batch: it takes no "
                "cache_allocation or cache_pins"
            )
        self._check_prefetch()
        self._check_hf()
        self._check_encoder()
        if self.quality_tokens is not None:
            check_int("quality_tokens", self.quality_tokens, minimum=0)
        if self.clock is not None:
            check_clock(self.clock)
        check_choice("backend", self.backend, BACKENDS)
        check_choice("engine", self.engine, ENGINES)
        if self.params is not None and not isinstance(self.params, str):
            raise ValueError(f"params must be NAME=VALUE,... text, not {self.params!r}")
        # The engine's own limits (MixPE columns within a group), before any model is trained.
        MoELayerParams(**self.hardware())

    def _check_prefetch(self) -> None:
        check_int("prefetch_extra", self.prefetch_extra, minimum=0)
        if self.prefetch is None:
            return
        check_choice("prefetch", self.prefetch, PREFETCHERS)
        if not self.generate:
            raise ValueError("prefetch works with --generate: it fetches ahead of decode steps")
        if self.cache_slots == 0:
            raise ValueError("prefetch needs expert slots on chip: cache_slots must not be 0")
        if self.backend != "fast":
            raise ValueError(f"prefetch runs on the fast backend, not {self.backend}")
        if self.cache == "none" and self.prefetch != "none":
            raise ValueError(
                "cache none empties every slot before each batch, prefetched experts too: use "
                "--prefetch none with it"
            )

    def _check_hf(self) -> None:
        for name in ("hf_layers", "hf_hidden", "hf_expert_hidden", "hf_experts", "hf_top_k"):
            check_int(name, getattr(self, name), minimum=1)
        if self.hf is None:
            return
        if not isinstance(self.hf, str) or not self.hf:
            raise ValueError(f"hf must name a config file or a model_type, not {self.hf!r}")
        if self.model != "tiny-moe":
            raise ValueError(f"hf replaces model: give one of them, not both ({self.model})")
        if self.prefetch in ("preattn", "prev"):
            raise ValueError(
                f"prefetch {self.prefetch} trains its predictors on the tiny MoE's traces: with "
                "hf use none, fate or oracle"
            )

    def _check_encoder(self) -> None:
        if self.model != CMOE_MODEL:
            return
        if self.generate:
            raise ValueError(
                f"model {CMOE_MODEL} is a sentence-embedding encoder: it generates no tokens "
                "(leave out generate)"
            )
        if self.engine == "fat":
            raise ValueError(
                f"model {CMOE_MODEL} keeps MiniLM's float weights and the fat engine runs "
                "ternary experts: engine must be xbar or mixpe"
            )

    def hardware(self) -> dict:
        """The layer Params this run sets: the engine with its knobs, its size, the layer's
        knobs (the model sets the rest)."""
        return hardware(self.engine, self.lanes, self.arrays, self.params)

    def resolved(self) -> "CosimSettings":
        """These settings with the quality step's size decided: the run's own size."""
        self._check_prefetch()
        self._check_hf()
        if self.quality_tokens is not None:
            return self
        return replace(self, quality_tokens=min(QUALITY_TOKENS, QUALITY_PER_TOKEN * self.tokens))
