"""A design's Verilog as a synthesis flow takes it: a header naming moetile's version, the block
and every Params value; the top module under its own name, one per Params; its ports in a
documented order, the order of :func:`port_records` (``clk``, ``rst``, then each port of the
component's signature in order, a stream's ``payload``, ``valid`` and ``ready`` together), whose
records also give each payload's field layout."""

import contextlib
import re
from importlib import metadata

from moetile.hw.registry import Design

__all__ = ["design_verilog", "port_records", "verilog_text", "zero_memories_uninitialized"]


def design_verilog(design: Design, top: str | None = None) -> str:
    """``design`` as Verilog, its top module named ``top`` (default :attr:`Design.top`)."""
    name = top or design.top
    component = design.component()
    text = _without_empty_wires(verilog_text(component, name))
    order = [record["name"] for record in port_records(component)]
    return _header(design, name) + _ordered_ports(text, name, order)


#: A zero-width wire as Yosys writes it: ``[-1:0]``, a two-bit range to every other tool.
_EMPTY_WIRE = re.compile(r"^ *wire \[-1:0\] (\\\S+ |\w+);\n", re.M)


def _without_empty_wires(text: str) -> str:
    """``text`` without the zero-width wires that nothing in their module uses (a memory of one
    word leaves its zero-width address so, for one): Verilator reads each as a two-bit range
    and warns. A zero-width wire in use is kept, and lint then reports it."""
    modules = re.split(r"(?<=^endmodule\n)", text, flags=re.M)
    return "".join(_EMPTY_WIRE.sub(lambda m, mod=mod: _unless_used(m, mod), mod) for mod in modules)


def _unless_used(declaration: re.Match, module: str) -> str:
    name = declaration.group(1)
    if name.startswith("\\"):
        uses = module.count(name)
    else:
        uses = len(re.findall(rf"(?<![\w$\\]){re.escape(name)}(?![\w$])", module))
    return declaration.group(0) if uses > 1 else ""


def port_records(component) -> list[dict]:
    """Every port of ``component``'s top module, in order: name, direction, width, and for a
    payload with fields their layout (``name``, bit ``offset``, ``width``, ``signed``)."""
    from amaranth.hdl import Value
    from amaranth.lib import data

    component._MustUse__silence = True  # inspected only, never elaborated here
    ports = [
        {"name": "clk", "direction": "in", "width": 1},
        {"name": "rst", "direction": "in", "width": 1},
    ]
    for path, member, value in component.signature.flatten(component):
        record = {
            "name": "__".join(str(p) for p in path),
            "direction": "in" if member.flow.name == "In" else "out",
            "width": Value.cast(value).shape().width,
        }
        if isinstance(member.shape, data.Layout):
            record["fields"] = _fields(member.shape)
        ports.append(record)
    return ports


def _fields(layout, prefix: str = "", offset: int = 0) -> list[dict]:
    """The leaf fields of ``layout``, dotted names from the outermost (``top.0.score``)."""
    from amaranth.hdl import Shape
    from amaranth.lib import data

    leaves = []
    for key, field in layout:
        name, start = f"{prefix}{key}", offset + field.offset
        if isinstance(field.shape, data.Layout):
            leaves += _fields(field.shape, f"{name}.", start)
        else:
            shape = Shape.cast(field.shape)
            leaves.append(
                {"name": name, "offset": start, "width": shape.width, "signed": shape.signed}
            )
    return leaves


def _header(design: Design, top: str) -> str:
    params = " ".join(f"{k}={v}" for k, v in design.params_dict.items())
    return (
        f"// {top}: moetile {metadata.version('moetile')}, block {design.block.name}\n"
        f"// Params: {params}\n"
        "// Ports: clk, rst, then each port of the signature in order, a stream's payload, valid\n"
        "// and ready together; manifest.json gives each payload's field layout.\n"
    )


def _ordered_ports(text: str, top: str, order: list[str]) -> str:
    """``text`` with the port list of module ``top`` in ``order`` (the declarations, and so
    every connection by name, are unchanged)."""
    pattern = re.compile(rf"^module {re.escape(top)}\((.*?)\);", re.M | re.S)
    match = pattern.search(text)
    if match is None:
        raise ValueError(f"no module {top} in the generated Verilog")
    ports = [p.strip() for p in match.group(1).split(",")]
    if sorted(ports) != sorted(order):
        raise ValueError(f"module {top} has ports {ports}, not {order}")
    return f"{text[: match.start(1)]}{', '.join(order)}{text[match.end(1) :]}"


@contextlib.contextmanager
def zero_memories_uninitialized():
    """Within the ``with`` body, Amaranth writes no initial contents for a memory whose initial
    contents are all zero.

    A memory macro has no reset contents, and every memory of the blocks is written before it
    is read, so such contents say nothing; spelt out bit by bit they cost Amaranth and Yosys
    over a minute for the weight banks of a large accelerator, and Yosys writes them as
    megabytes of ``initial`` blocks that Verilator then compiles. Verilator starts memories at
    zero anyway."""
    from amaranth.back import rtlil

    emit = rtlil.ModuleEmitter.emit_memory

    def emit_nonzero(self, cell_idx, cell):
        if any(cell.init):
            emit(self, cell_idx, cell)

    rtlil.ModuleEmitter.emit_memory = emit_nonzero
    try:
        yield
    finally:
        rtlil.ModuleEmitter.emit_memory = emit


#: Attempts at a conversion that the WebAssembly runtime under Amaranth's Yosys failed to start.
CONVERT_ATTEMPTS = 3


def verilog_text(component, name: str) -> str:
    """``component`` as Verilog with top module ``name``, all-zero memories without initial
    contents (:func:`zero_memories_uninitialized`). The WebAssembly Yosys that Amaranth
    converts with can fail to start when the kernel refuses it a sealed memory file for a
    moment (``WasmtimeError: cannot add seals to the memfd``); that start, and only that, is
    tried again. Any other Yosys error is raised at once."""
    from amaranth._toolchain.yosys import YosysError
    from amaranth.back import verilog

    attempt = 1
    while True:
        try:
            with zero_memories_uninitialized():
                return verilog.convert(component, name=name, emit_src=False)
        except YosysError as error:
            if "WasmtimeError" not in str(error) or attempt == CONVERT_ATTEMPTS:
                raise
            attempt += 1
