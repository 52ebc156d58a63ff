"""The Verilog top of a fast-harness build: the design with its reset taken from a register.

Verilator evaluates every piece of logic that a top-level input feeds at every evaluation (the
harness makes two a cycle), and logic fed by registers only after a clock edge. A design's
synchronous reset reaches the next-state logic of every register, so with ``rst`` a top-level
input all of it would run twice a cycle. Here the design's reset is ``rst`` delayed by a
register that starts set, and the driver (:mod:`moetile.sim.fast.driver`) raises ``rst`` one
cycle less: the design is still in reset for the same two rising edges as in the cocotb benches.
"""

from .ports import Port, StreamPort

__all__ = ["WRAPPER_TOP", "wrapper_source"]

#: Module name of the wrapper, the Verilator top of every fast-harness build.
WRAPPER_TOP = "fast_top"


def _ports(streams: list[StreamPort], statics: list[Port]) -> list[tuple[str, str, int]]:
    """``(direction, name, width)`` of every port the driver touches."""
    ports = []
    for s in streams:
        source, sink = ("input", "output") if s.inbound else ("output", "input")
        ports += [
            (source, f"{s.name}__payload", s.width),
            (source, f"{s.name}__valid", 1),
            (sink, f"{s.name}__ready", 1),
        ]
    return ports + [("input", p.name, p.width) for p in statics]


def wrapper_source(
    top: str, streams: list[StreamPort], statics: list[Port], unread: tuple[str, ...] = ()
) -> str:
    """The wrapper of ``top``; ``unread``: its plain outputs, left unconnected."""
    ports = _ports(streams, statics)
    names = ", ".join(["clk", "rst", *(name for _, name, _ in ports)])
    lines = [f"module {WRAPPER_TOP}({names});", "  input clk;", "  input rst;"]
    for direction, name, width in ports:
        lines.append(f"  {direction} {f'[{width - 1}:0] ' if width > 1 else ''}{name};")
    connections = ",\n    ".join(
        [f".{name}({name})" for _, name, _ in ports] + [f".{name}()" for name in unread]
    )
    lines += [
        "  reg design_rst = 1'b1;",
        "  always @(posedge clk) design_rst <= rst;",
        f"  {top} dut (\n    .clk(clk),\n    .rst(design_rst),\n    {connections}\n  );",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"
