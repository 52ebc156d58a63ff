"""Parameters of the MoE layer accelerator; every width is derived here."""

from dataclasses import dataclass, replace

from ..checks import MAX_UNITS, check_bool, check_choice, check_int
from ..fat.params import FatParams
from ..gemv.params import GemvParams
from ..mixpe.params import GROUP_SIZES, WEIGHT_WIDTH, MixPEParams
from ..topk.params import TopKParams
from ..xbar.params import CrossbarParams

__all__ = ["ACTIVATION_WIDTH", "CONFIG_WORDS", "ENGINES", "MAX_SUM_WIDTH", "MoELayerParams"]

#: Expert engines a build can hold; ``fat``: ternary experts on FAT arrays; ``mixpe``: W4A8
#: experts on a MixPE array; ``xbar``: int8 experts on crossbars, ``arrays`` peripheries.
ENGINES = ("fat", "mixpe", "xbar")

#: Widest exact expert sum an engine may hand on (the spec's int32 sums).
MAX_SUM_WIDTH = 32

#: Width of every int8 activation: token vectors, requantized sums, lookup-table entries.
ACTIVATION_WIDTH = 8


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(a: int, b: int) -> int:
    return _ceil_div(a, b) * b


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
        Experts every token uses with weight 1, ``>= 0``.
    top_k : int
        Routed experts per token, ``1 ..= experts``.
    renormalize : bool
        Softmax over the ``top_k`` selected logits (Mixtral, Qwen3) when True, over all
        ``experts`` logits otherwise.
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
    zero_skip : int
        Weight positions a FAT SACU scans per cycle, ``>= 1``.
    exp_entries : int
        Entries of the exp lookup table (``exp(-i * step)``, ``i < exp_entries``), ``2 ..= 4096``.
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
    engine : str
        One of :data:`ENGINES`.
    group : int
        ``mixpe`` only: W4A8 group size, one of 32, 64, 128.
    weight_scale_width : int
        ``mixpe`` only: bits of a group's unsigned scale code, ``1 ..= 24``, so that an
        expert sum fits ``MAX_SUM_WIDTH`` bits.
    crossbar_rows, crossbar_cols : int
        ``xbar`` only: inputs and outputs of one crossbar, ``>= 1``.
    cell_bits : int
        ``xbar`` only: bits per cell, ``1 ..= 8``.
    dac_bits : int
        ``xbar`` only: input bits applied per read, ``1 ..= 7``. The ADCs are lossless
        (:attr:`crossbar`), so an expert sum is the exact int8 product.
    """

    hidden: int = 32
    expert_hidden: int = 64
    experts: int = 4
    shared_experts: int = 0
    top_k: int = 2
    renormalize: bool = True
    max_tokens: int = 16
    lanes: int = 4
    arrays: int = 2
    router_macs: int = 8
    zero_skip: int = 16
    exp_entries: int = 256
    gate_frac: int = 15
    token_scale_width: int = 16
    combine_multiplier_width: int = 16
    out_shift: int = 16
    engine: str = "fat"
    group: int = 32
    weight_scale_width: int = 8
    crossbar_rows: int = 16
    crossbar_cols: int = 8
    cell_bits: int = 2
    dac_bits: int = 1

    def __post_init__(self):
        for name in ("hidden", "expert_hidden", "experts", "max_tokens"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("lanes", "arrays"):
            check_int(name, getattr(self, name), minimum=1, maximum=MAX_UNITS)
        check_int("shared_experts", self.shared_experts, minimum=0)
        check_int("top_k", self.top_k, minimum=1, maximum=self.experts)
        check_bool("renormalize", self.renormalize)
        check_int("router_macs", self.router_macs, minimum=1, maximum=min(self.hidden, MAX_UNITS))
        check_int("zero_skip", self.zero_skip, minimum=1)
        check_int("exp_entries", self.exp_entries, minimum=2, maximum=4096)
        check_int("gate_frac", self.gate_frac, minimum=1, maximum=16)
        check_int("token_scale_width", self.token_scale_width, minimum=1, maximum=16)
        check_int("combine_multiplier_width", self.combine_multiplier_width, minimum=1, maximum=16)
        check_int("out_shift", self.out_shift, minimum=0)
        check_choice("engine", self.engine, ENGINES)
        check_choice("group", self.group, GROUP_SIZES)
        check_int("weight_scale_width", self.weight_scale_width, minimum=1, maximum=24)
        check_int("crossbar_rows", self.crossbar_rows, minimum=1)
        check_int("crossbar_cols", self.crossbar_cols, minimum=1)
        _ = self.crossbar  # validates cell_bits and dac_bits
        if self.engine == "mixpe" and self.arrays > self.group:
            raise ValueError(
                f"arrays must be at most group ({self.group}) for engine 'mixpe', not {self.arrays}"
            )
        if self.sum_width > MAX_SUM_WIDTH:
            raise ValueError(
                f"expert sums need {self.sum_width} bits, more than {MAX_SUM_WIDTH}: lower "
                "weight_scale_width or the layer's width"
            )

    # Blocks inside.

    @property
    def gemv(self) -> GemvParams:
        """The router's gate GEMV: ``experts`` logits from one token."""
        return GemvParams(inputs=self.hidden, outputs=self.experts, macs=self.router_macs)

    @property
    def topk(self) -> TopKParams:
        return TopKParams(n=self.experts, k=self.top_k, score_width=self.gemv.acc_width)

    @property
    def fat(self) -> FatParams:
        """One FAT array: a pass loads ``inputs`` columns and runs ``pass_rows`` rows."""
        return FatParams(
            lanes=self.lanes,
            in_width=ACTIVATION_WIDTH,
            n_inputs=self.inputs,
            n_outputs=self.pass_rows,
            zero_skip=self.zero_skip,
        )

    @property
    def mixpe(self) -> MixPEParams:
        """The MixPE array: ``lanes`` tokens by ``arrays`` outputs, a pass per row of each
        column, exact sums out."""
        return MixPEParams(
            rows=self.lanes,
            cols=self.arrays,
            n_inputs=self.inputs,
            group=self.group,
            scale_width=self.weight_scale_width,
            scale_frac=0,
            out_shift=0,
        )

    @property
    def crossbar(self) -> CrossbarParams:
        """One crossbar of the ``xbar`` engine: int8 weights and inputs, a lossless ADC."""
        shape = CrossbarParams(
            rows=self.crossbar_rows,
            cols=self.crossbar_cols,
            cell_bits=self.cell_bits,
            w_bits=ACTIVATION_WIDTH,
            in_bits=ACTIVATION_WIDTH,
            dac_bits=self.dac_bits,
        )
        return replace(shape, adc_bits=shape.lossless_adc_bits)

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
        longest = max(self.hidden, self.expert_hidden)
        if self.engine == "xbar":
            return _round_up(longest, self.crossbar_rows)
        return _round_up(longest, self.group) if self.engine == "mixpe" else longest

    @property
    def pass_rows(self) -> int:
        """Rows per array per pass: an array's share of the down projection."""
        return _ceil_div(self.hidden, self.arrays)

    @property
    def units_per_array(self) -> int:
        """Hidden units an array computes: unit ``j`` runs on array ``j % arrays``."""
        return _ceil_div(self.expert_hidden, self.arrays)

    @property
    def gate_up_rows(self) -> int:
        """Rows an array runs in the gate/up phase: gate and up of each of its units,
        interleaved; for FAT padded with empty rows to whole passes (a MixPE pass is one row
        of every column)."""
        rows = 2 * self.units_per_array
        return _round_up(rows, self.pass_rows) if self.engine == "fat" else rows

    @property
    def down_rows(self) -> int:
        """Rows an array runs in the down phase: output ``j`` runs on array ``j % arrays``."""
        return self.pass_rows

    @property
    def bank_rows(self) -> int:
        """Weight rows each array's bank holds: every expert's gate/up rows, then down rows."""
        return self.total_experts * (self.gate_up_rows + self.down_rows)

    @property
    def gate_up_groups(self) -> int:
        """MixPE groups a gate/up pass runs: those that cover ``hidden``."""
        return _ceil_div(self.hidden, self.group)

    @property
    def down_groups(self) -> int:
        """MixPE groups a down pass runs: those that cover ``expert_hidden``."""
        return _ceil_div(self.expert_hidden, self.group)

    @property
    def gate_up_blocks(self) -> tuple[int, int]:
        """``xbar``: crossbars of an array's gate/up rows, as (row blocks of
        ``crossbar_cols`` rows, input blocks of ``crossbar_rows`` inputs covering ``hidden``)."""
        return _ceil_div(self.gate_up_rows, self.crossbar_cols), _ceil_div(
            self.hidden, self.crossbar_rows
        )

    @property
    def down_blocks(self) -> tuple[int, int]:
        """``xbar``: the same for an array's down rows (inputs covering ``expert_hidden``)."""
        return _ceil_div(self.down_rows, self.crossbar_cols), _ceil_div(
            self.expert_hidden, self.crossbar_rows
        )

    @property
    def crossbars_per_expert(self) -> int:
        """``xbar``: each array's crossbars of one expert, gate/up then down."""
        (a, b), (c, d) = self.gate_up_blocks, self.down_blocks
        return a * b + c * d

    @property
    def bank_words(self) -> int:
        """Words of each bank: a FAT row is one word, a MixPE row one word per group, a
        crossbar one word."""
        if self.engine == "xbar":
            return self.total_experts * self.crossbars_per_expert
        groups = self.inputs // self.group if self.engine == "mixpe" else 1
        return self.bank_rows * groups

    @property
    def bank_word_bits(self) -> int:
        """FAT: a row's two bit planes. MixPE: a group's 4-bit codes, then its scale code and
        zero point. Crossbar: its int8 weights, input by input (``crossbar_rows``), each
        ``crossbar_cols`` outputs."""
        if self.engine == "xbar":
            return self.crossbar_rows * self.crossbar_cols * ACTIVATION_WIDTH
        if self.engine == "mixpe":
            return WEIGHT_WIDTH * (self.group + 1) + self.weight_scale_width
        return 2 * self.inputs

    @property
    def padded_units(self) -> int:
        return self.units_per_array * self.arrays

    @property
    def padded_outputs(self) -> int:
        return self.pass_rows * self.arrays

    @property
    def scale_rows(self) -> int:
        """Per-expert scale words: gate and up requantization of each unit, then the combine
        multiplier of each output."""
        return 2 * self.padded_units + self.padded_outputs

    # Widths.

    @property
    def token_width(self) -> int:
        return max(1, (self.max_tokens - 1).bit_length())

    @property
    def expert_width(self) -> int:
        return max(1, (self.total_experts - 1).bit_length())

    @property
    def gate_width(self) -> int:
        """Unsigned gating weight, ``0 ..= 2**gate_frac``."""
        return self.gate_frac + 1

    @property
    def sum_width(self) -> int:
        """Signed width of an exact expert sum (the engine's accumulator)."""
        if self.engine == "xbar":
            return (self.inputs << (2 * ACTIVATION_WIDTH - 2)).bit_length() + 1
        return self.mixpe.acc_width if self.engine == "mixpe" else self.fat.acc_width

    @property
    def multiplier_width(self) -> int:
        """Requantization multiplier: unsigned 31 bits, as a positive int32 in gemmlowp."""
        return 31

    @property
    def shift_width(self) -> int:
        return 6

    @property
    def exp_sum_width(self) -> int:
        """Unsigned sum of up to ``experts`` exp entries of at most ``2**gate_frac``."""
        return (self.experts << self.gate_frac).bit_length()

    @property
    def combine_width(self) -> int:
        """Signed combine accumulator: ``(top_k + shared) * 2**gate_frac * (2**cm - 1) *
        2**(sum_width - 1)`` at most."""
        terms = self.top_k + self.shared_experts
        bound = terms << (self.gate_frac + self.combine_multiplier_width + self.sum_width - 1)
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
        targets = {
            "router": (g.weight_transfers, g.macs * g.width),
            "exp_table": (self.exp_entries, self.gate_width),
            "act_table": (1 << ACTIVATION_WIDTH, ACTIVATION_WIDTH),
            "config": (len(CONFIG_WORDS), self.multiplier_width + self.shift_width),
            "scales": (
                self.total_experts * self.scale_rows,
                self.multiplier_width + self.shift_width,
            ),
        }
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


#: Words of the ``config`` target, each a multiplier and a shift: the router's
#: logit-difference-to-exp-index requantization, and the gated product's requantization.
CONFIG_WORDS = ("router", "product")
