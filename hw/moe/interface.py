"""Stream payloads of the MoE layer accelerator and of the streams between its units."""

from amaranth import signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..checks import counter_range
from .params import ACTIVATION_WIDTH, MoELayerParams

__all__ = [
    "STATS",
    "choice_layout",
    "column_layout",
    "lane_context_layout",
    "load_layout",
    "result_layout",
    "row_layout",
    "scale_pair_layout",
    "stats_layout",
    "read_signature",
    "stats_names",
    "token_layout",
    "write_signature",
]

#: Cycle counters the accelerator reports after each batch's results: routing (first token in
#: to the last token routed), gathering tokens into the lanes, the gate/up and down phases of
#: the experts, and streaming the results out.
STATS = ("route", "gather", "gate_up", "down", "output")


def stats_names(params: MoELayerParams) -> tuple[str, ...]:
    """The counters of ``params``' layer: :data:`STATS`, and ``fetch`` behind an expert cache
    (the cycles its jobs waited for lookups and fetches), and ``refused`` with prefetch (the
    prefetch requests refused since the last stats)."""
    cached = ("fetch",) if params.cache_slots else ()
    return STATS + cached + (("refused",) if params.cache_prefetch else ())


def load_layout(params: MoELayerParams) -> data.StructLayout:
    """One write of the weight-load stream: ``data`` (low bits used) at ``addr`` of the
    memory ``target`` (a code of ``params.load_targets``)."""
    return data.StructLayout(
        {
            "target": unsigned(params.load_target_width),
            "addr": unsigned(params.load_addr_width),
            "data": unsigned(params.load_data_width),
        }
    )


def token_layout(params: MoELayerParams) -> data.StructLayout:
    """One chunk of a token: ``io_chunk`` int8 values (a token is ``io_chunks`` transfers, the
    last zero-padded), the token's scale code, and whether the token closes the batch; with
    expert choice, whether it begins a sequence (``start``). Scale, ``last`` and ``start`` are
    read from the token's final chunk."""
    fields = {
        "x": data.ArrayLayout(signed(ACTIVATION_WIDTH), params.io_chunk),
        "scale": unsigned(params.token_scale_width),
        "last": 1,
    }
    if params.expert_choice:
        fields["start"] = 1
    return data.StructLayout(fields)


def result_layout(params: MoELayerParams) -> data.StructLayout:
    """One chunk of a token's result (``io_chunk`` values in the layer's output scale, the
    last chunk zero-padded), ``io_chunks`` transfers per token."""
    return data.StructLayout({"y": data.ArrayLayout(signed(params.out_width), params.io_chunk)})


def stats_layout(params: MoELayerParams) -> data.StructLayout:
    return data.StructLayout({name: unsigned(32) for name in stats_names(params)})


def choice_layout(params: MoELayerParams) -> data.StructLayout:
    """A token's routed experts, best first, with their gating weights; with
    ``shared_gate``, the shared experts' gate; with expert choice, every expert, ``taken``
    marking those that selected the token."""
    fields = {
        "expert": data.ArrayLayout(unsigned(params.topk.index_width), params.top_k),
        "gate": data.ArrayLayout(unsigned(params.gate_width), params.top_k),
    }
    if params.shared_gate:
        fields["shared_gate"] = unsigned(params.gate_width)
    if params.expert_choice:
        fields["taken"] = unsigned(params.top_k)
    return data.StructLayout(fields)


def column_layout(params: MoELayerParams) -> data.StructLayout:
    """One input column of the engine: input ``k`` of every lane."""
    return data.StructLayout({"x": data.ArrayLayout(signed(ACTIVATION_WIDTH), params.lanes)})


def row_layout(params: MoELayerParams) -> data.StructLayout:
    """One row of exact sums from the engine: every lane's sum, which array made it and the
    row's position in that array's phase."""
    return data.StructLayout(
        {
            "y": data.ArrayLayout(signed(params.sum_width), params.lanes),
            "array": unsigned(max(1, (params.arrays - 1).bit_length())),
            "row": unsigned(max(params.gate_up_rows, params.down_rows).bit_length()),
        }
    )


def scale_pair_layout(params: MoELayerParams) -> data.StructLayout:
    """A requantization multiplier and shift, as the ``config`` and ``scales`` words hold them."""
    return data.StructLayout(
        {"multiplier": unsigned(params.multiplier_width), "shift": unsigned(params.shift_width)}
    )


def lane_context_layout(params: MoELayerParams) -> data.StructLayout:
    """What the lanes currently hold: per lane its token, its gating weight, its token's scale
    code and whether it holds a token at all; and the region of the expert running (its
    scales' place)."""
    lanes = params.lanes
    return data.StructLayout(
        {
            "region": counter_range(params.regions),
            "token": data.ArrayLayout(counter_range(params.max_tokens), lanes),
            "gate": data.ArrayLayout(params.gate_width, lanes),
            "scale": data.ArrayLayout(params.token_scale_width, lanes),
            "valid": data.ArrayLayout(1, lanes),
        }
    )


def write_signature(depth: int, shape, banks: int | None = None) -> wiring.Signature:
    """One write port into a memory of ``depth`` words of ``shape`` (or into one of ``banks``
    such memories, ``bank`` naming it), as the load decoder drives it: every resident memory
    is loaded through one of these."""
    members = {"addr": Out(counter_range(depth)), "data": Out(shape), "en": Out(1)}
    if banks is not None:
        members["bank"] = Out(counter_range(banks))
    return wiring.Signature(members)


def read_signature(depth: int, shape) -> wiring.Signature:
    """A combinational read of a memory of ``depth`` words of ``shape``, from the reader's
    side: ``addr`` out, ``data`` back in the same cycle."""
    return wiring.Signature({"addr": Out(counter_range(depth)), "data": In(shape)})
