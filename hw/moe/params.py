"""Parameters of the MoE layer accelerator; every width is derived here."""

from dataclasses import dataclass
from typing import ClassVar

from ..checks import MAX_UNITS, check_bool, check_choice, check_int
from ..expert_cache.params import CACHE_POLICIES, ExpertCacheParams
from ..gemv.params import GemvParams
from ..gocache.params import GOCacheParams
from ..topk.params import TopKParams
from .engines import ENGINES, EngineParams, FatEngineParams, engine_params
from .engines.base import ceil_div
from .widths import ACTIVATION_WIDTH, MAX_SUM_WIDTH

__all__ = [
    "ACTIVATION_WIDTH",
    "CONFIG_WORDS",
    "ENGINES",
    "GROUP_SCORES",
    "MAX_SUM_WIDTH",
    "SCORINGS",
    "MoELayerParams",
    "ROUTINGS",
]


@dataclass(frozen=True)
class MoELayerParams:
    """MoE layer accelerator parameters.

    One *batch* of up to ``max_tokens`` int8 tokens (each ``hidden`` values and a token scale)
    is routed, every expert runs on the batch's tokens that chose it, and one fixed-point
    result per token comes back. Gated (SwiGLU) experts: ``down(act(gate x) * up x)``.

    Parameters
    ----------
    hidden : int
        ``d``: token width, ``>= 1``.
    expert_hidden : int
        ``f``: hidden units per expert, ``>= 1``.
    experts : int
        Routed experts ``E``, ``>= 1``.
    shared_experts : int
        Experts every token uses, ``>= 0``: with weight 1, or with ``shared_gate``.
    gated : bool
        Gated (SwiGLU) experts, ``down(act(gate x) * up x)``, when True; ungated experts
        ``down(act(up x))`` (Switch, CMoE-converted models) otherwise: one row a hidden unit.
    expert_bias : bool
        Ungated experts with biases: ``down(act(up x + b1)) + b2``, ``b1`` added to a unit's
        requantized pre-activation, ``b2`` to an output's exact sum (needs ``gated`` False).
    shared_gate : bool
        Weigh the shared experts by a sigmoid gate of the token (Qwen2-MoE):
        ``sigmoid(w_s x)``, ``w_s`` one more row of the router's GEMV (needs
        ``shared_experts``).
    top_k : int
        Routed experts per token, ``1 ..= experts``.
    renormalize : bool
        Softmax scoring: the softmax over the ``top_k`` selected logits (Mixtral, Qwen3) when
        True, over all ``experts`` logits otherwise. Sigmoid scoring: the selected scores
        divided by their sum when True, the scores themselves otherwise.
    scoring : str
        How logits become scores, one of :data:`SCORINGS`: ``softmax``; ``sigmoid``
        (DeepSeek-V3, GLM-4.5): each expert's score ``sigmoid(l)`` from the score table,
        experts chosen by score plus the selection bias, within the best groups;
        ``unweighted`` (CMoE): experts chosen by their logit (requantized to a fixed scale)
        plus the selection bias, each chosen expert weighing 1.0.
    choice_bias : bool
        With ``sigmoid`` or ``unweighted``: a per-expert bias added for choosing only.
    groups : int
        With ``sigmoid`` or ``unweighted``: equal groups of experts, ``1`` (none) or a
        divisor of ``experts`` leaving at least two experts a group; only the experts of the
        ``topk_groups`` best groups are chosen from.
    topk_groups : int
        Groups kept per token, ``1 ..= groups``, holding at least ``top_k`` experts.
    group_score : str
        A group's score, one of :data:`GROUP_SCORES`: its best choice score (``max``,
        DeepSeek-V2) or the sum of its best two (``top2_sum``, DeepSeek-V3).
    routing : str
        One of :data:`ROUTINGS`: ``token_choice`` (each token takes its ``top_k`` experts) or
        ``expert_choice`` (each expert takes the ``capacity`` best tokens of the sequence so
        far by their gating weight, the softmax over every expert: the router's GO cache,
        :mod:`moetile.hw.gocache`, decides as each token arrives, keeping its selections
        across batches until a token with ``start``). Expert choice needs ``softmax``
        scoring, ``top_k`` equal to ``experts`` (a token may go to every expert) and
        resident experts.
    capacity : int
        With ``expert_choice``: tokens each expert keeps, ``1 ..= max_sequence``.
    max_sequence : int
        With ``expert_choice``: the longest sequence the GO cache follows, ``1 ..= 65536``;
        the token after it begins a new sequence.
    max_tokens : int
        Tokens per batch, ``>= 1``.
    lanes : int
        Tokens of one expert per job (FAT lanes, MixPE rows; a crossbar periphery takes them
        one after another), ``1 ..= 1024``.
    arrays : int
        FAT arrays, MixPE columns or crossbar peripheries, each computing every
        ``arrays``-th row of an expert, ``1 ..= 1024``; at most ``group`` for ``mixpe``.
    router_macs : int
        MACs of the gate GEMV, ``1 ..= min(hidden, 1024)``.
    exp_entries : int
        Entries of the router's table, ``2 ..= 4096``: ``exp(-i * step)`` for softmax scoring
        (and the shared gate), ``sigmoid(i * step)`` for sigmoid scoring, ``i < exp_entries``.
    gate_frac : int
        Fraction bits of a gating weight and of an exp table entry (1.0 = ``2**gate_frac``),
        ``1 ..= 16``.
    token_scale_width : int
        Width of a token's unsigned scale code (its scale = code * the layer's scale unit),
        ``1 ..= 16``.
    combine_multiplier_width : int
        Width of a combine multiplier (per expert output row), ``1 ..= 16``.
    out_shift : int
        Right shift (rounding half up) from the combine accumulator to a result, ``>= 0``.
    engine : EngineParams
        The expert engine with its own Params (:mod:`moetile.hw.moe.engines`): one of
        :data:`ENGINES`, given as its Params, its name (its defaults) or its dict.
    cache_slots : int
        Expert slots of the banks when the experts live off chip: ``0`` holds every expert of
        one layer (the weight load brings them all); ``S >= top_k + shared_experts`` makes the
        banks ``S`` slots behind an expert cache (:mod:`moetile.hw.expert_cache`) that fetches
        a missing expert on ``o_fetch`` before its job, ``..= 256``.
    cache_layers : int
        Layers whose experts the cache's tags tell apart (with ``cache_slots``), ``1 ..= 256``.
    cache_policy : str
        The cache's replacement (with ``cache_slots``), one of
        :data:`~moetile.hw.expert_cache.CACHE_POLICIES`.
    cache_prefetch : bool
        Behind the cache, take prefetch requests on ``i_prefetch`` (layer, expert) between
        batches and before a routed batch's first lookup, their fetches landing while jobs
        read other slots (with ``cache_slots``).
    """

    hidden: int = 32
    expert_hidden: int = 64
    experts: int = 4
    shared_experts: int = 0
    gated: bool = True
    expert_bias: bool = False
    shared_gate: bool = False
    top_k: int = 2
    renormalize: bool = True
    scoring: str = "softmax"
    choice_bias: bool = False
    groups: int = 1
    topk_groups: int = 1
    group_score: str = "max"
    routing: str = "token_choice"
    capacity: int = 4
    max_sequence: int = 64
    max_tokens: int = 16
    lanes: int = 4
    arrays: int = 2
    router_macs: int = 8
    exp_entries: int = 256
    gate_frac: int = 15
    token_scale_width: int = 16
    combine_multiplier_width: int = 16
    out_shift: int = 16
    engine: EngineParams = FatEngineParams()
    cache_slots: int = 0
    cache_layers: int = 1
    cache_policy: str = "lru"
    cache_prefetch: bool = False

    #: The nested choice: ``engine`` is one of :data:`ENGINES`, its fields set as
    #: ``engine.<field>`` on the command line.
    NESTED: ClassVar[dict] = {"engine": ENGINES}

    def __post_init__(self):
        object.__setattr__(self, "engine", engine_params(self.engine))
        self._check_cache()
        for name in ("hidden", "expert_hidden", "experts", "max_tokens"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("lanes", "arrays"):
            check_int(name, getattr(self, name), minimum=1, maximum=MAX_UNITS)
        check_int("shared_experts", self.shared_experts, minimum=0)
        check_int("top_k", self.top_k, minimum=1, maximum=self.experts)
        check_bool("renormalize", self.renormalize)
        check_bool("shared_gate", self.shared_gate)
        check_bool("gated", self.gated)
        check_bool("expert_bias", self.expert_bias)
        if self.expert_bias and self.gated:
            raise ValueError("expert_bias is for ungated experts: it needs gated False")
        self._check_scoring()
        self._check_routing()
        if self.shared_gate and not self.shared_experts:
            raise ValueError("shared_gate weighs the shared experts: shared_experts must be > 0")
        check_int("router_macs", self.router_macs, minimum=1, maximum=min(self.hidden, MAX_UNITS))
        check_int("exp_entries", self.exp_entries, minimum=2, maximum=4096)
        check_int("gate_frac", self.gate_frac, minimum=1, maximum=16)
        check_int("token_scale_width", self.token_scale_width, minimum=1, maximum=16)
        check_int("combine_multiplier_width", self.combine_multiplier_width, minimum=1, maximum=16)
        check_int("out_shift", self.out_shift, minimum=0)
        self.engine.check(self)
        if self.sum_width > MAX_SUM_WIDTH:
            raise ValueError(
                f"expert sums need {self.sum_width} bits, more than {MAX_SUM_WIDTH}: lower "
                "weight_scale_width or the layer's width"
            )

    def _check_scoring(self) -> None:
        check_choice("scoring", self.scoring, SCORINGS)
        check_bool("choice_bias", self.choice_bias)
        check_choice("group_score", self.group_score, GROUP_SCORES)
        check_int("groups", self.groups, minimum=1, maximum=self.experts)
        check_int("topk_groups", self.topk_groups, minimum=1, maximum=self.groups)
        if self.scoring == "softmax" and (self.choice_bias or self.groups > 1):
            raise ValueError("choice_bias and groups > 1 need scoring sigmoid or unweighted")
        if self.scoring != "softmax" and self.shared_gate:
            raise ValueError("shared_gate reads an exp table: it needs scoring softmax")
        if self.scoring == "unweighted" and self.renormalize:
            raise ValueError("unweighted scoring weighs each chosen expert 1.0: renormalize False")
        if self.groups > 1 and (self.experts % self.groups or self.experts // self.groups < 2):
            raise ValueError(
                f"groups must divide the {self.experts} experts into groups of at least two, "
                f"not {self.groups}"
            )
        if self.topk_groups * (self.experts // self.groups) < self.top_k:
            raise ValueError(
                f"topk_groups {self.topk_groups} groups of {self.experts // self.groups} experts "
                f"hold fewer than top_k {self.top_k}"
            )

    def _check_routing(self) -> None:
        check_choice("routing", self.routing, ROUTINGS)
        check_int("max_sequence", self.max_sequence, minimum=1, maximum=1 << 16)
        check_int("capacity", self.capacity, minimum=1, maximum=self.max_sequence)
        if not self.expert_choice:
            return
        if self.scoring != "softmax":
            raise ValueError("expert_choice routing ranks softmax gating weights: scoring softmax")
        if self.top_k != self.experts:
            raise ValueError(
                f"expert_choice routing may send a token to every expert: top_k must be "
                f"experts ({self.experts}), not {self.top_k}"
            )
        if self.cache_slots:
            raise ValueError("expert_choice routing runs on resident experts: cache_slots 0")

    def _check_cache(self) -> None:
        check_int("cache_slots", self.cache_slots, minimum=0, maximum=256)
        check_int("cache_layers", self.cache_layers, minimum=1, maximum=256)
        check_choice("cache_policy", self.cache_policy, CACHE_POLICIES)
        check_bool("cache_prefetch", self.cache_prefetch)
        if self.cache_prefetch and not self.cache_slots:
            raise ValueError("cache_prefetch needs an expert cache: cache_slots must be > 0")
        least = self.top_k + self.shared_experts
        if 0 < self.cache_slots < least:
            raise ValueError(
                f"cache_slots must be 0 or at least {least} (top_k {self.top_k} + "
                f"shared_experts {self.shared_experts}: one layer's experts of a token), "
                f"not {self.cache_slots}"
            )

    # Blocks inside.

    @property
    def cache(self) -> ExpertCacheParams | None:
        """The expert cache's Params, or None where every expert is resident."""
        if not self.cache_slots:
            return None
        return ExpertCacheParams(
            slots=self.cache_slots,
            layers=self.cache_layers,
            experts=self.total_experts,
            policy=self.cache_policy,
            prefetch=self.cache_prefetch,
        )

    @property
    def expert_choice(self) -> bool:
        return self.routing == "expert_choice"

    @property
    def go_cache(self) -> GOCacheParams | None:
        """With expert choice, the router's GO cache: each expert's ``capacity`` best tokens
        of the sequence, ranked by their gating weights (``gate_width`` bits, as signed
        scores)."""
        if not self.expert_choice:
            return None
        return GOCacheParams(
            tokens=self.max_sequence,
            experts=self.experts,
            capacity=self.capacity,
            hidden=self.hidden,
            macs=self.router_macs,
            score_bits=self.gate_width + 1,
        )

    @property
    def gemv(self) -> GemvParams:
        """The router's gate GEMV: ``experts`` logits from one token, then with
        ``shared_gate`` the shared experts' gate logit."""
        outputs = self.experts + self.shared_gate
        return GemvParams(inputs=self.hidden, outputs=outputs, macs=self.router_macs)

    @property
    def topk(self) -> TopKParams:
        """The selector: of the logits (softmax), or of the choice scores (sigmoid)."""
        width = self.gemv.acc_width if self.scoring == "softmax" else self.choice_width
        return TopKParams(n=self.experts, k=self.top_k, score_width=width)

    @property
    def unit(self):
        """The Params of the engine's compute unit (:meth:`EngineParams.unit`)."""
        return self.engine.unit(self)

    # Streams.

    @property
    def io_chunk(self) -> int:
        """Values per token or result transfer: a chunk of the router's GEMV."""
        return self.router_macs

    @property
    def io_chunks(self) -> int:
        """Transfers per token and per result."""
        return self.gemv.chunks

    # Expert geometry.

    @property
    def total_experts(self) -> int:
        """Routed experts, then the shared ones (expert ``experts + s`` is shared expert ``s``)."""
        return self.experts + self.shared_experts

    @property
    def inputs(self) -> int:
        """Row length on the engine: a gate/up row reads ``hidden`` inputs, a down row
        ``expert_hidden``; the shorter is padded with zero weights, which FAT skips (MixPE
        rows also pad to whole groups)."""
        return self.engine.inputs(self)

    @property
    def pass_rows(self) -> int:
        """Rows per array per pass: an array's share of the down projection."""
        return ceil_div(self.hidden, self.arrays)

    @property
    def units_per_array(self) -> int:
        """Hidden units an array computes: unit ``j`` runs on array ``j % arrays``."""
        return ceil_div(self.expert_hidden, self.arrays)

    @property
    def rows_per_unit(self) -> int:
        """Rows of a hidden unit in the gate/up phase: its gate and up rows, or one."""
        return 2 if self.gated else 1

    @property
    def gate_up_rows(self) -> int:
        """Rows an array runs in the gate/up phase: gate and up of each of its units,
        interleaved (the up row alone for ungated experts); for FAT padded with empty rows to
        whole passes (a MixPE pass is one row of every column)."""
        return self.engine.gate_up_rows(self, self.rows_per_unit * self.units_per_array)

    @property
    def down_rows(self) -> int:
        """Rows an array runs in the down phase: output ``j`` runs on array ``j % arrays``."""
        return self.pass_rows

    @property
    def regions(self) -> int:
        """Experts the banks hold at once: one layer's every expert, or the cache's slots."""
        return self.cache_slots or self.total_experts

    @property
    def bank_rows(self) -> int:
        """Weight rows each array's bank holds: each region's gate/up rows, then down rows."""
        return self.regions * (self.gate_up_rows + self.down_rows)

    @property
    def region_words(self) -> int:
        """Words of one expert in each bank."""
        return self.bank_words // self.regions

    @property
    def bank_words(self) -> int:
        """Words of each bank, as the engine lays them out (a FAT row is one word, a MixPE
        row one word per group, a crossbar one word)."""
        return self.engine.bank_words(self)

    @property
    def bank_word_bits(self) -> int:
        """Bits of a bank word, as the engine lays it out."""
        return self.engine.bank_word_bits(self)

    @property
    def padded_units(self) -> int:
        return self.units_per_array * self.arrays

    @property
    def padded_outputs(self) -> int:
        return self.pass_rows * self.arrays

    @property
    def scale_rows(self) -> int:
        """Per-expert scale words: gate and up requantization of each unit (ungated: the up
        requantization, then its bias ``b1``), then the combine multiplier of each output, and
        with ``expert_bias`` each output's bias ``b2``."""
        return 2 * self.padded_units + (1 + self.expert_bias) * self.padded_outputs

    @property
    def unit_bias_width(self) -> int:
        """Signed ``b1``, in units of the requantized pre-activation (an int8 step)."""
        return 16

    @property
    def output_bias_width(self) -> int:
        """Signed ``b2``, in units of the exact down sum: as wide as the sum."""
        return self.sum_width

    # Widths.

    @property
    def token_width(self) -> int:
        return max(1, (self.max_tokens - 1).bit_length())

    @property
    def expert_width(self) -> int:
        return max(1, (self.total_experts - 1).bit_length())

    @property
    def region_width(self) -> int:
        return max(1, (self.regions - 1).bit_length())

    @property
    def gate_width(self) -> int:
        """Unsigned gating weight, ``0 ..= 2**gate_frac``."""
        return self.gate_frac + 1

    @property
    def sum_width(self) -> int:
        """Signed width of an exact expert sum (the engine's accumulator)."""
        return self.engine.sum_width(self)

    @property
    def multiplier_width(self) -> int:
        """Requantization multiplier: unsigned 31 bits, as a positive int32 in gemmlowp."""
        return 31

    @property
    def shift_width(self) -> int:
        return 6

    @property
    def bias_width(self) -> int:
        """Signed selection bias, in units of a score's ``2**-gate_frac``: ``[-2, 2)`` (an
        unweighted router's logits are clamped to the same range)."""
        return self.gate_frac + 2

    @property
    def choice_width(self) -> int:
        """Signed choice score: a score in ``[0, 2**gate_frac]`` plus a bias, and below them
        all the masked value of an expert outside the kept groups."""
        return self.gate_frac + 3

    @property
    def exp_sum_width(self) -> int:
        """Unsigned sum of up to ``experts`` exp entries of at most ``2**gate_frac`` (with
        ``shared_gate``, at least ``2**gate_frac`` plus one entry: the sigmoid's divisor)."""
        terms = max(self.experts, 2) if self.shared_gate else self.experts
        return (terms << self.gate_frac).bit_length()

    @property
    def config_words(self) -> tuple[str, ...]:
        """The ``config`` target's words (:data:`CONFIG_WORDS`), with ``shared_gate`` the
        shared gate logit's requantization to an exp table index after them."""
        return CONFIG_WORDS + (("shared_gate",) if self.shared_gate else ())

    @property
    def combine_width(self) -> int:
        """Signed combine accumulator: ``(top_k + shared) * 2**gate_frac * (2**cm - 1) *
        2**(sum_width - 1)`` at most."""
        terms = self.top_k + self.shared_experts
        term = self.sum_width + self.expert_bias  # an expert's sum, with its bias
        bound = terms << (self.gate_frac + self.combine_multiplier_width + term - 1)
        return bound.bit_length() + 1

    @property
    def out_width(self) -> int:
        """Signed result: the combine accumulator after the rounding shift, exactly."""
        return max(2, self.combine_width - self.out_shift + 1)

    # Load map: the weight-load stream writes ``data`` at ``addr`` of memory ``target``.

    @property
    def load_targets(self) -> dict:
        """``{target name: (code, depth, data bits)}`` of every memory the load stream writes."""
        g = self.gemv
        # The layer's own memories, then from ``scales`` on those an expert's fetch writes.
        pair = self.multiplier_width + self.shift_width
        targets = {
            "router": (g.weight_transfers, g.macs * g.width),
            "exp_table": (self.exp_entries, self.gate_width),
            "act_table": (1 << ACTIVATION_WIDTH, ACTIVATION_WIDTH),
            "config": (len(self.config_words), pair),
        }
        if self.choice_bias:
            targets["choice_bias"] = (self.experts, self.bias_width)
        targets["scales"] = (self.regions * self.scale_rows, pair)
        if self.cache is not None:
            # A slot's entry, or (at ``cache_slots``) the layer running; with prefetch (at
            # ``cache_slots + 1``) the slot the fetch whose words follow lands in.
            c = self.cache
            width = max(c.entry_width, c.layer_width, c.slot_width if c.prefetch else 0)
            targets["cache"] = (self.cache_slots + 1 + c.prefetch, width)
        for a in range(self.arrays):
            targets[f"bank{a}"] = (self.bank_words, self.bank_word_bits)
        return {name: (code, *entry) for code, (name, entry) in enumerate(targets.items())}

    @property
    def load_target_width(self) -> int:
        return max(1, (len(self.load_targets) - 1).bit_length())

    @property
    def load_addr_width(self) -> int:
        return max(1, max(depth for _, depth, _ in self.load_targets.values()).bit_length())

    @property
    def load_data_width(self) -> int:
        return max(bits for *_, bits in self.load_targets.values())


#: How the router turns logits into scores.
SCORINGS = ("softmax", "sigmoid", "unweighted")
#: Who chooses: each token its ``top_k`` experts, or each expert its ``capacity`` tokens.
ROUTINGS = ("token_choice", "expert_choice")
#: A group's score for group-limited routing: its best choice score, or its best two's sum.
GROUP_SCORES = ("max", "top2_sum")

#: Words of the ``config`` target, each a multiplier and a shift: the router's
#: logit-difference-to-exp-index requantization, and the gated product's requantization.
CONFIG_WORDS = ("router", "product")
