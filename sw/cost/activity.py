"""Activity of each block, from the events its simulation counted: which adds, multiplies,
register writes and memory accesses one event causes follows from the datapath, stated here
once per block. :mod:`moetile.sw.cost.energy` prices the result."""

import numpy as np

from moetile.hw.fat import FatParams
from moetile.hw.gocache import GOCacheParams
from moetile.hw.mixpe import MixPEParams
from moetile.hw.mixpe.params import ACT_WIDTH, WEIGHT_WIDTH

from .energy import Activity

__all__ = [
    "crossbar_read_activity",
    "fat_activity",
    "gemv_activity",
    "go_cache_activity",
    "gocache_activity",
    "mixpe_activity",
    "xbar_activity",
]


def mixpe_activity(params: MixPEParams, steps: int, groups: int, outputs: int) -> Activity:
    """Actions of a MixPE array or its baseline that took ``steps`` reduction steps (``i_x``
    transfers), ``groups`` group transfers and ``outputs`` output columns.

    Both designs read each step's operands from buffers (``rows`` activations, ``cols`` codes)
    and each group's scales and zero points; each output column rounds ``rows`` results.

    - ``mixpe``, per step: every PE adds its code's shifted copies of ``x`` (3 adds) and the
      product to its group sum (1 add, a register write); each row's activation-sum PE adds
      ``x``. Per group: every PE's sum and each row's activation sum move to the hold
      registers, and the group's scales and zero points to theirs; then for every output,
      ``z * S`` (3 adds), ``P - z * S`` (1 add), one multiply by the scale and one
      accumulator add and write.
    - ``group_multiplier``: as ``mixpe``, with one 4 × 8 multiply per PE and step instead
      of the 3 shift-and-add adds.
    - ``multiplier``, per step: each column dequantizes its weight (a subtract and a multiply
      by the scale); every PE multiplies and adds into its accumulator (a register write).
      Per group: the scales and zero points are held in registers.
    - Pipelined (``params.pipelined``), the pipeline registers are written too: per
      dequantization the selected sum, scale and zero point, then ``P - z * S`` and the
      scale, then the product; ``multiplier``, per step the offsets with their scales and
      the activations, then the weights and activations, then every PE's product.
    """
    p, a = params, Activity()
    pes = p.rows * p.cols
    a.add("sram", steps * (p.rows * ACT_WIDTH + p.cols * WEIGHT_WIDTH))
    a.add("sram", groups * p.cols * (p.scale_width + WEIGHT_WIDTH))
    a.add("add", p.out_width, outputs * p.rows)
    if p.dequantizes_groups:
        if p.arch == "mixpe":
            a.add("add", p.product_width, steps * pes * (WEIGHT_WIDTH - 1))
        else:
            a.add("multiply", (WEIGHT_WIDTH, ACT_WIDTH), steps * pes)
        a.add("add", p.group_sum_width, steps * pes)
        a.add("register", steps * pes * p.group_sum_width)
        a.add("add", p.act_sum_width, steps * p.rows)
        a.add("register", steps * p.rows * p.act_sum_width)
        held = pes * p.group_sum_width + p.rows * p.act_sum_width
        a.add("register", groups * (held + p.cols * (p.scale_width + WEIGHT_WIDTH)))
        dequantizations = groups * pes
        a.add("add", p.act_sum_width + WEIGHT_WIDTH, dequantizations * (WEIGHT_WIDTH - 1))
        a.add("add", p.diff_width, dequantizations)
        a.add("multiply", (p.scale_width, p.diff_width), dequantizations)
        a.add("add", p.acc_width, dequantizations)
        a.add("register", dequantizations * p.acc_width)
        if p.pipelined:
            chosen = p.group_sum_width + p.scale_width + WEIGHT_WIDTH
            offset = p.diff_width + p.scale_width
            a.add("register", dequantizations * (chosen + offset + p.acc_width))
    else:
        a.add("add", WEIGHT_WIDTH + 1, steps * p.cols)
        a.add("multiply", (p.scale_width, WEIGHT_WIDTH + 1), steps * p.cols)
        a.add("multiply", (p.weight_width, ACT_WIDTH), steps * pes)
        a.add("add", p.acc_width, steps * pes)
        a.add("register", steps * pes * p.acc_width)
        a.add("register", groups * p.cols * (p.scale_width + WEIGHT_WIDTH))
        if p.pipelined:
            activations = p.rows * ACT_WIDTH
            chosen = activations + p.cols * (WEIGHT_WIDTH + 1 + p.scale_width)
            operands = activations + p.cols * p.weight_width
            products = pes * (p.weight_width + ACT_WIDTH)
            a.add("register", steps * (chosen + operands + products))
    return a


def fat_activity(params: FatParams, rows) -> Activity:
    """Actions of a FAT array or its baseline that took the weight rows ``rows`` (ternary
    codes ``(n, n_inputs)``, as its ``i_w`` transfers carried them; each row one output row
    per lane).

    A row becomes one add per non-zero code (FAT) or per code (the baseline, which adds the
    zeros too), the ``k``-th add of a row ``add_width(k)`` bits wide. One bit position of an
    add, in every lane: read the input bit and the accumulator bit from the bit planes, a
    1-bit full add, write the sum bit back. FAT keeps the carry in the sense amplifier's latch
    (a register write); the baseline writes it to the array and reads it back at the next
    bit (an extra memory write and read). Per row, both read the 2-bit codes of every weight
    (the SACU scans them all) and every lane's sum once for the output.
    """
    p, a = params, Activity()
    codes = np.asarray(rows, dtype=np.int64).reshape(len(rows), -1)
    adds = np.count_nonzero(codes, axis=1) if p.skips_zeros else np.full(len(codes), codes.shape[1])
    # bits[n]: the bit positions of a row of n adds (its k-th add is add_width(k) bits wide).
    bits = np.cumsum([0] + [p.add_width(k) for k in range(1, codes.shape[1] + 1)])
    bit_ops = p.lanes * int(bits[adds].sum())
    a.add("add", 1, bit_ops)
    if p.arch == "fat":
        a.add("sram", bit_ops * 3)  # two reads and the sum's write
        a.add("register", bit_ops)  # the carry latch
    else:
        a.add("sram", bit_ops * 5)  # three reads, the sum's and the carry's writes
    a.add("sram", len(codes) * (2 * p.n_inputs + p.lanes * p.acc_width))
    return a


def xbar_activity(params, reads: int, slots: int) -> Activity:
    """Actions of a multiplexed-crossbar tile that ran ``slots`` slots with ``reads`` group
    reads (crossbar MVMs); each read's group loads its input register once (a vector taken
    by several groups loads each one's register).

    Per read: the input register's ``rows × in_bits`` bits once, then in each of its
    ``planes`` reads the crossbar (``rows × bitlines`` cells), every wordline's DAC
    (``dac_bits``), every bitline's ADC conversion, and per column the shift-and-add (an add
    into the accumulator and its register write). Per slot: the output register (every
    group's results). The input bus itself is not priced: the table has no cited per-bit
    wire energy. Pipelined (``params.pipelined``), every plane's read also writes the
    wordline levels, the ADC codes and each column's weighted read into registers.
    """
    x = params.crossbar
    a = crossbar_read_activity(x, reads)
    a.add("register", slots * params.groups * x.cols * x.out_width)
    if params.pipelined:
        staged = x.rows * x.dac_bits + x.bitlines * x.code_width + x.cols * x.acc_width
        a.add("register", reads * x.planes * staged)
    return a


def crossbar_read_activity(x, reads: int) -> Activity:
    """Actions of ``reads`` MVMs of the crossbar ``x`` (a
    :class:`~moetile.hw.xbar.params.CrossbarParams`): each loads its input register
    (``rows × in_bits`` bits), then in each of its ``planes`` reads the crossbar
    (``rows × bitlines`` cells), drives every wordline's DAC, converts every bitline's ADC
    and shift-adds each column into its accumulator (an add and a register write)."""
    a = Activity()
    a.add("crossbar", x.rows * x.bitlines, reads * x.planes)
    a.add("dac", x.dac_bits, reads * x.planes * x.rows)
    a.add("adc", x.adc_bits, reads * x.planes * x.bitlines)
    a.add("add", x.acc_width, reads * x.planes * x.cols)
    a.add("register", reads * x.planes * x.cols * x.acc_width)
    a.add("register", reads * x.rows * x.in_bits)
    return a


def gemv_activity(g, vectors: int) -> Activity:
    """Actions of a GEMV (a :class:`~moetile.hw.gemv.params.GemvParams`) over ``vectors``
    vectors: each vector's chunks written to its buffer, then for each of its
    ``weight_transfers`` compute cycles a weight chunk and a vector chunk read, ``macs``
    multiplies and adds at the accumulator's width, and the accumulator written."""
    a = Activity()
    chunk_bits = g.macs * g.width
    steps = vectors * g.weight_transfers
    a.add("sram", vectors * g.chunks * chunk_bits + steps * 2 * chunk_bits)
    a.add("multiply", (g.width, g.width), steps * g.macs)
    a.add("add", g.acc_width, steps * g.macs)
    a.add("register", steps * g.acc_width)
    return a


def gocache_activity(params: GOCacheParams, tokens: int, takes: int, scan_reads: int) -> Activity:
    """Actions of the expert-choice router that gated ``tokens`` tokens, wrote ``takes``
    selection entries and read ``scan_reads`` entries while scanning for worst entries.

    Per token, the gate GEMV writes the vector's chunks to its buffer and then, for each of
    the ``experts * chunks`` compute cycles, reads a weight chunk and a vector chunk,
    multiplies ``macs`` pairs, adds them (``macs`` adds at the sum's width) and writes the
    accumulator. The cache compares the token's score with every expert's worst entry (an add
    at the score's width) and writes the update register; each scan read is compared with
    the running worst (an add) and may replace it (a register write, counted for every read:
    an upper bound).
    """
    a = gemv_activity(params.gate, tokens)
    a.merge(go_cache_activity(params, tokens, takes, scan_reads))
    return a


def go_cache_activity(params: GOCacheParams, tokens: int, takes: int, scan_reads: int) -> Activity:
    """The GO cache's part of :func:`gocache_activity`: its updates and scans, without the
    gate GEMV (the MoE layer's router counts its own)."""
    p = params
    a = Activity()
    entry_bits = p.entry_width
    a.add("add", p.score_width, tokens * p.experts + scan_reads)
    a.add("register", tokens * p.experts * (p.score_width + p.token_width + 2))
    a.add("sram", (takes + scan_reads) * entry_bits)
    a.add("register", scan_reads * entry_bits)
    return a
