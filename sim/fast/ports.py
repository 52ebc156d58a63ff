"""The ports of a design as the fast harness sees them: its streams (with their Amaranth payload
layouts) and its other inputs, and the packing of payloads to and from 32-bit words on numpy
arrays through those layouts."""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data, stream, wiring

__all__ = ["Field", "Port", "StreamPort", "design_ports", "fields_of", "words_of"]

WORD_BITS = 32


def words_of(width: int) -> int:
    """32-bit words that hold ``width`` bits (at least one)."""
    return max(1, -(-width // WORD_BITS))


@dataclass(frozen=True)
class Field:
    """One integer leaf of a payload layout: ``names`` through structs, ``index`` through
    arrays (the trailing axes of its numpy array), at bit ``offset``."""

    names: tuple[str, ...]
    index: tuple[int, ...]
    offset: int
    width: int
    signed: bool

    @property
    def range(self) -> tuple[int, int]:
        if self.signed:
            return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return 0, (1 << self.width) - 1


def fields_of(shape, names=(), index=(), offset=0) -> list[Field]:
    """Every integer leaf of an Amaranth shape (struct and array layouts recursed)."""
    if isinstance(shape, data.StructLayout):
        return [
            leaf
            for name, member in shape
            for leaf in fields_of(member.shape, (*names, name), index, offset + member.offset)
        ]
    if isinstance(shape, data.ArrayLayout):
        width = Shape.cast(shape.elem_shape).width
        return [
            leaf
            for n in range(shape.length)
            for leaf in fields_of(shape.elem_shape, names, (*index, n), offset + n * width)
        ]
    cast = Shape.cast(shape)
    if cast.width > 64:
        raise ValueError(f"payload field {'.'.join(names)} is {cast.width} bits; at most 64")
    return [Field(names, index, offset, cast.width, cast.signed)]


@dataclass(frozen=True)
class Port:
    """A non-stream input: set once per run."""

    name: str
    width: int

    @property
    def words(self) -> int:
        return words_of(self.width)


@dataclass(frozen=True)
class StreamPort:
    """A stream port: ``<name>__payload``, ``<name>__valid`` and ``<name>__ready``.

    ``inbound`` streams carry transactions into the design, the others out of it.
    """

    name: str
    inbound: bool
    layout: object

    @property
    def width(self) -> int:
        return Shape.cast(self.layout).width

    @property
    def words(self) -> int:
        return words_of(self.width)

    @property
    def fields(self) -> list[Field]:
        return fields_of(self.layout)

    def pack(self, payloads) -> np.ndarray:
        """``(n, words)`` ``uint32`` from a payload batch: a nested dict of integer arrays
        shaped like the layout (``{"scores": (n, 16)}``; arrays add trailing axes), or a
        sequence of packed integers (``layout.const(v).as_bits()``), or ``(n, words)``
        ``uint32`` words as they are. Values that do not fit their field are refused."""
        if isinstance(payloads, np.ndarray) and payloads.dtype == np.uint32:
            if payloads.ndim != 2 or payloads.shape[1] != self.words:
                raise ValueError(
                    f"stream {self.name}: packed words must have shape (n, {self.words}), "
                    f"not {payloads.shape}"
                )
            return np.ascontiguousarray(payloads)
        if isinstance(payloads, dict):
            return self._pack_fields(payloads)
        return self._pack_integers(list(payloads))

    def unpack(self, words: np.ndarray) -> dict:
        """The nested dict of ``int64`` arrays of :meth:`pack` from ``(n, words)`` words."""
        wide = words.astype(np.uint64)
        out: dict = {}
        for leaf in self.fields:
            value = np.zeros(len(words), dtype=np.uint64)
            for word, shift in _word_spans(leaf):
                part = wide[:, word]
                value |= part >> np.uint64(-shift) if shift < 0 else part << np.uint64(shift)
            value &= np.uint64((1 << leaf.width) - 1)
            number = value.astype(np.int64)
            if leaf.signed:
                negative = number >= 1 << (leaf.width - 1)
                number = np.where(negative, number - (1 << leaf.width), number)
            _store(out, leaf, number, len(words), self.fields)
        return out

    def integers(self, words: np.ndarray) -> list[int]:
        """Packed payload integers from ``(n, words)`` words (what cocotb reads)."""
        return [sum(int(w) << (WORD_BITS * k) for k, w in enumerate(row)) for row in words.tolist()]

    def _pack_integers(self, values: list) -> np.ndarray:
        words = np.zeros((len(values), self.words), dtype=np.uint32)
        for n, value in enumerate(values):
            if not isinstance(value, int) or not 0 <= value < 1 << self.width:
                raise ValueError(
                    f"stream {self.name}: payload {n} must be an integer in "
                    f"[0, 2**{self.width}), not {value!r}"
                )
            for k in range(self.words):
                words[n, k] = (value >> (WORD_BITS * k)) & 0xFFFFFFFF
        return words

    def _pack_fields(self, payloads: dict) -> np.ndarray:
        leaves = self.fields
        count = None
        words = None
        for leaf in leaves:
            column = _column(payloads, leaf, self.name, _trailing(leaves, leaf.names))
            if count is None:
                count = len(column)
                words = np.zeros((count, self.words), dtype=np.uint64)
            elif len(column) != count:
                raise ValueError(
                    f"stream {self.name}: field {_label(leaf)} has {len(column)} "
                    f"transactions, others {count}"
                )
            lo, hi = leaf.range
            if len(column) and (column.min() < lo or column.max() > hi):
                raise ValueError(
                    f"stream {self.name}: field {_label(leaf)} must lie in [{lo}, {hi}]; "
                    f"it spans [{column.min()}, {column.max()}]"
                )
            value = column.astype(np.uint64) & np.uint64((1 << leaf.width) - 1)
            for word, shift in _word_spans(leaf):
                part = value << np.uint64(-shift) if shift < 0 else value >> np.uint64(shift)
                words[:, word] |= part & np.uint64(0xFFFFFFFF)
        return words.astype(np.uint32)


def _word_spans(leaf: Field):
    """``(word, shift)`` for every 32-bit word the leaf touches, ``shift`` being the bit of the
    leaf's value at the word's bit 0: the word holds ``value >> shift`` (``value << -shift``
    when the leaf starts inside the word)."""
    first, last = leaf.offset // WORD_BITS, (leaf.offset + leaf.width - 1) // WORD_BITS
    return [(word, word * WORD_BITS - leaf.offset) for word in range(first, last + 1)]


def _label(leaf: Field) -> str:
    return ".".join(leaf.names) + "".join(f"[{n}]" for n in leaf.index)


def _column(payloads: dict, leaf: Field, stream_name: str, trailing: tuple) -> np.ndarray:
    node = payloads
    for name in leaf.names:
        if not isinstance(node, dict) or name not in node:
            raise ValueError(f"stream {stream_name}: payload field {'.'.join(leaf.names)} missing")
        node = node[name]
    array = np.asarray(node)
    if array.dtype.kind not in "iub":
        raise ValueError(f"stream {stream_name}: field {_label(leaf)} must hold integers")
    if array.ndim < 1 or array.shape[1:] != trailing:
        shape = ", ".join(["n", *map(str, trailing)])
        raise ValueError(
            f"stream {stream_name}: field {'.'.join(leaf.names)} must have shape ({shape}), "
            f"not {array.shape}"
        )
    return array[(slice(None), *leaf.index)].astype(np.int64)


def _trailing(leaves, names) -> tuple[int, ...]:
    """The array axes (after the transaction axis) of the field at ``names``."""
    indices = [f.index for f in leaves if f.names == names]
    return tuple(1 + max(index[axis] for index in indices) for axis in range(len(indices[0])))


def _store(out: dict, leaf: Field, values: np.ndarray, count: int, leaves) -> None:
    node = out
    for name in leaf.names[:-1]:
        node = node.setdefault(name, {})
    name = leaf.names[-1]
    if not leaf.index:
        node[name] = values
        return
    if name not in node:
        node[name] = np.zeros((count, *_trailing(leaves, leaf.names)), dtype=np.int64)
    node[name][(slice(None), *leaf.index)] = values


def plain_outputs(component) -> tuple[str, ...]:
    """The outputs of a component that are not streams (the fast harness leaves them
    unread)."""
    component._MustUse__silence = True
    return tuple(
        name
        for name, member in component.signature.members.items()
        if member.is_port and member.flow == wiring.Out
    )


def design_ports(component) -> tuple[list[StreamPort], list[Port]]:
    """The streams and the other inputs of a component, from its signature (the component is
    only inspected, never elaborated)."""
    component._MustUse__silence = True
    streams, statics = [], []
    for name, member in component.signature.members.items():
        if member.is_signature and isinstance(member.signature, stream.Signature):
            streams.append(
                StreamPort(
                    name, member.flow == wiring.In, member.signature.members["payload"].shape
                )
            )
        elif member.is_port and member.flow == wiring.In:
            statics.append(Port(name, Shape.cast(member.shape).width))
        elif member.is_signature:
            raise ValueError(
                f"port {name} is an interface other than a stream; the fast harness drives "
                "stream ports and plain inputs only"
            )
    if not streams:
        raise ValueError(f"{type(component).__name__} has no stream ports to drive")
    return streams, statics
