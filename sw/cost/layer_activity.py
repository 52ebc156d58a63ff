"""Activity of the MoE layer accelerator, batch by batch: from the tokens each expert took
(the batch's routing, which the co-simulation checks against the golden's) and the layer's
resident weights, the actions its datapath takes; :mod:`moetile.sw.cost.energy` prices them.

Per batch:

- routing: the tokens written to the token buffer (``hidden`` int8 values each) and the
  router's GEMV over them (:func:`~moetile.sw.cost.activity.gemv_activity`);
- per expert, ``ceil(tokens / lanes)`` jobs, each a gate/up phase and a down phase:
  - the job's input columns (``inputs`` columns of ``lanes`` int8 values) read from the token
    or hidden buffer and written to the engine;
  - the engine's own actions for the phase's rows (each engine's
    :meth:`~moetile.sw.engines.base.EngineSoftware.job_activity`);
  - for each hidden unit and token, the activation unit: each gate/up sum requantized (a
    multiply by the ``multiplier_width``-bit multiplier; ungated experts first add their
    bias), the activation table read (8 bits), for gated experts the int8 product of gate and
    up and its requantization, and the unit's int8 value written to the hidden buffer;
  - for each output and token, the combine unit: (the expert's output bias added) the sum
    multiplied by the token's gate weight and added into the token's accumulator, which is
    written.

Not counted: the router's softmax and top-k, the token gathering's bookkeeping, control, the
result stream, the weights' load (a one-time cost per batch's layer, the same for every
design holding them), clock tree and wires, and leakage: this is the dynamic energy of the
layer's arithmetic and buffers.
"""

from moetile.hw.moe.widths import ACTIVATION_WIDTH as INT8
from moetile.sw.engines import engine_software
from moetile.sw.golden.moe_layer import IntegerMoELayer
from moetile.sw.mapping.moe_layer import expert_bank_rows

from .activity import gemv_activity
from .energy import Activity

__all__ = ["LayerActivity"]


class LayerActivity:
    """The actions of one integer layer's batches; a job's are computed once per expert and
    token count."""

    def __init__(self, layer: IntegerMoELayer):
        self.layer = layer
        self._jobs: dict[tuple[int, int], Activity] = {}

    def batch(self, tokens: int, expert_tokens: list[int]) -> Activity:
        """A batch of ``tokens`` tokens, ``expert_tokens[e]`` of them through expert ``e``
        (routed experts, then the shared ones)."""
        p = self.layer.params
        a = gemv_activity(p.gemv, tokens)
        a.add("sram", tokens * p.hidden * INT8)
        for e, n in enumerate(expert_tokens):
            full, rest = divmod(n, p.lanes)
            for size, jobs in ((p.lanes, full), (rest, int(rest > 0))):
                if jobs:
                    a.merge(self._job(e, size), jobs)
        return a

    def _job(self, e: int, tokens: int) -> Activity:
        """Expert ``e``'s job of ``tokens`` tokens; the first asked for makes every job size
        of the expert (its bank rows laid out once)."""
        if (e, tokens) not in self._jobs:
            p = self.layer.params
            engine = engine_software(p)
            banks = [
                expert_bank_rows(p, self.layer.experts[e], a, engine.planes)
                for a in range(p.arrays)
            ]
            gate_up = [[plane[: p.gate_up_rows] for plane in bank] for bank in banks]
            down = [[plane[p.gate_up_rows :] for plane in bank] for bank in banks]
            for size in range(1, p.lanes + 1):
                a = Activity()
                a.merge(engine.job_activity(p, gate_up, p.hidden, size))
                a.merge(engine.job_activity(p, down, p.expert_hidden, size))
                a.add("sram", 2 * 2 * p.inputs * p.lanes * INT8)  # both phases' columns
                a.merge(_activation(p, size * p.expert_hidden))
                a.merge(_combine(p, size * p.hidden))
                self._jobs[e, size] = a
        return self._jobs[e, tokens]


def _activation(p, units: int) -> Activity:
    """``units`` hidden units through the activation unit."""
    a = Activity()
    requantize = (p.sum_width + p.expert_bias, p.multiplier_width)
    if p.gated:
        a.add("multiply", requantize, 2 * units)
        a.add("multiply", (INT8, INT8), units)
        a.add("multiply", (2 * INT8, p.multiplier_width), units)
    else:
        if p.expert_bias:
            a.add("add", p.sum_width + 1, units)
        a.add("multiply", requantize, units)
    a.add("sram", units * 2 * INT8)  # the table's entry read, the unit's value written
    return a


def _combine(p, outputs: int) -> Activity:
    """``outputs`` output values of one expert combined into their tokens' results."""
    a = Activity()
    term = p.sum_width + p.expert_bias
    if p.expert_bias:
        a.add("add", term, outputs)
    a.add("multiply", (p.combine_multiplier_width, term), outputs)
    a.add("add", p.combine_width, outputs)
    a.add("register", outputs * p.combine_width)
    return a
