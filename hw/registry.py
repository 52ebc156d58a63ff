"""The registry of generatable blocks: one :func:`register` call makes a block known to the CLI,
the build cache, its golden model, its cocotb testbench, its proofs and its benchmark (standard
library only: every part is named as ``"module"`` or ``"module:attribute"`` and imported when
used, so the registry stays on the lowest floor while naming parts on the floors above)."""

import dataclasses
import hashlib
import importlib
import inspect
import json
import re
from dataclasses import dataclass

__all__ = [
    "Block",
    "Design",
    "block",
    "blocks",
    "design_from_config",
    "parse_param",
    "register",
    "resolve",
]


@dataclass(frozen=True)
class Block:
    """A generatable block.

    Parameters
    ----------
    name : str
        CLI name, e.g. ``"topk"``.
    params : type
        Its frozen ``*Params`` dataclass.
    component : str
        ``"module:function"`` that turns a Params into an Amaranth component.
    defaults : tuple
        The Params generated when no block is named (e.g. one per microarchitecture).
    summary : str
        One line on what the block is (``moetile generate --help``).
    golden : str
        ``"module:function"``: the independent golden model the block is proved equal to.
    testbench : str
        The module of the block's cocotb tests (``moetile.sim.runner.run_testbench``).
    proofs : str
        The module whose ``SPEC`` states what ``moetile prove`` proves of the block.
    benchmark : str
        The module whose ``run(progress, quick)`` is ``moetile bench NAME``, NAME being the
        module's last part; empty where the block has no benchmark of its own.
    """

    name: str
    params: type
    component: str
    defaults: tuple
    summary: str
    golden: str
    testbench: str
    proofs: str
    benchmark: str = ""

    def build(self, params):
        return resolve(self.component)(params)

    @property
    def benchmark_name(self) -> str:
        return self.benchmark.rsplit(".", 1)[-1]

    def nested(self) -> dict[str, dict[str, type]]:
        """Params fields holding a choice of nested Params (the Params class's ``NESTED``):
        field → {choice name: its Params class}. Their fields are set as ``field.name``."""
        return getattr(self.params, "NESTED", {})

    def param_docs(self) -> dict[str, str]:
        """Each Params field's meaning (with its allowed values), from the numpydoc
        ``Parameters`` sections of the Params class and its bases."""
        docs: dict[str, str] = {}
        for cls in reversed(self.params.__mro__):
            for names, text in _numpydoc_parameters(cls.__doc__ if cls is not object else ""):
                if not text.startswith("As :class:"):
                    docs.update(dict.fromkeys(names, _expand_names(cls, text)))
        for field, choices in self.nested().items():
            for choice, cls in choices.items():
                for names, text in _numpydoc_parameters(cls.__doc__):
                    text = f"{field} {choice!r} only: {_expand_names(cls, text)}"
                    docs.update(dict.fromkeys((f"{field}.{n}" for n in names), text))
        return docs

    def nested_fields(self) -> dict[str, tuple[str, dataclasses.Field]]:
        """``{"field.name": (choice, its dataclass field)}`` of every nested choice."""
        return {
            f"{field}.{f.name}": (choice, f)
            for field, choices in self.nested().items()
            for choice, cls in choices.items()
            for f in dataclasses.fields(cls)
            if f.init
        }

    def make_params(self, values: dict):
        """Params from a ``{field: value}`` dict, refusing unknown fields; ``field.name``
        sets a field of a nested choice (:meth:`nested`), the one ``field`` names or its
        default."""
        names = [f.name for f in dataclasses.fields(self.params)]
        plain, dotted = {}, {}
        for key, value in values.items():
            outer, dot, inner = key.partition(".")
            if outer not in names or (dot and outer not in self.nested()):
                allowed = [*names, *self.nested_fields()]
                raise ValueError(
                    f"unknown parameter {key!r} for block {self.name!r}; "
                    f"allowed: {', '.join(allowed)}"
                )
            if dot:
                dotted.setdefault(outer, {})[inner] = value
            else:
                plain[key] = value
        for outer, changes in dotted.items():
            plain[outer] = self._nested_value(outer, plain.get(outer), changes)
        return self.params(**plain)

    def _nested_value(self, field: str, base, changes: dict):
        """Nested choice ``base`` (its name, dict or Params; ``None``: the field's default)
        with ``changes`` to its fields."""
        choices = self.nested()[field]
        if base is None:
            base = next(f.default for f in dataclasses.fields(self.params) if f.name == field)
        if isinstance(base, str):
            base = {"name": base}
        elif dataclasses.is_dataclass(base):
            base = dataclasses.asdict(base)
        choice = base.get("name")
        if choice not in choices:
            allowed = ", ".join(map(repr, choices))
            raise ValueError(f"{field} must be one of {allowed}, not {choice!r}")
        cls = choices[choice]
        allowed = [f.name for f in dataclasses.fields(cls) if f.init]
        for key in changes:
            if key not in allowed:
                raise ValueError(
                    f"{field} {choice!r} has no parameter {key!r}; allowed: {', '.join(allowed)}"
                )
        current = {k: v for k, v in base.items() if k != "name"}
        return cls(**{**current, **changes})


@dataclass(frozen=True)
class Design:
    """One block at one set of Params: the unit that is generated, built and measured."""

    block: Block
    params: object

    @property
    def params_dict(self) -> dict:
        return dataclasses.asdict(self.params)

    @property
    def params_hash(self) -> str:
        """A digest of the block and of the Params fields that differ from the Params class's
        defaults: a field added later with a default leaves every earlier design's hash (its
        name and its caches) as it was."""
        defaults = dataclasses.asdict(type(self.params)())
        changed = {k: v for k, v in self.params_dict.items() if defaults.get(k) != v}
        text = json.dumps({"block": self.block.name, "params": changed}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def base(self) -> str:
        """The block, then its microarchitecture where it has several: ``fat_parapim``."""
        arch = getattr(self.params, "arch", None)
        return f"{self.block.name}_{arch}" if arch else self.block.name

    @property
    def top(self) -> str:
        """Verilog module name, one per Params: :attr:`base`, then each Params field that differs
        from the registered defaults of its microarchitecture (``fat_fat_lanes16``), or a short
        hash of the Params where that would be long."""
        changed = self.changed_params()
        words = [f"{name}{_identifier(value)}" for name, value in changed.items()]
        readable = "_".join([self.base, *words])
        if all(w.isidentifier() for w in words) and len(readable) <= MAX_TOP_LENGTH:
            return readable
        return f"{self.base}_{self.params_hash[:8]}"

    def changed_params(self) -> dict:
        """The Params fields (the microarchitecture aside) that differ from the registered
        defaults of the same microarchitecture (or from the Params class's defaults)."""
        arch = getattr(self.params, "arch", None)
        same = [d for d in self.block.defaults if getattr(d, "arch", None) == arch]
        reference = dataclasses.asdict(same[0] if same else self.block.params())
        return {
            name: value
            for name, value in self.params_dict.items()
            if name != "arch" and reference.get(name) != value
        }

    def component(self):
        return self.block.build(self.params)


#: The longest readable top module name; a longer one is the base and a hash of the Params.
MAX_TOP_LENGTH = 48


def _identifier(value) -> str:
    """A Params value as part of a Verilog identifier: ``16``, ``m3`` (-3), ``1`` (True)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value).replace("-", "m")
    return str(value)


_BLOCKS: dict[str, Block] = {}


def register(
    name: str,
    params: type,
    component: str,
    defaults,
    summary: str,
    *,
    golden: str,
    testbench: str,
    proofs: str,
    benchmark: str = "",
) -> Block:
    """Make a block known everywhere; see :class:`Block` for what each part names."""
    entry = Block(
        name, params, component, tuple(defaults), summary, golden, testbench, proofs, benchmark
    )
    _BLOCKS[name] = entry
    return entry


def resolve(part: str):
    """A registered part: ``"module:attribute"`` → the attribute, ``"module"`` → the module."""
    module, _, attribute = part.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


def blocks() -> list[Block]:
    _load_builtin_blocks()
    return list(_BLOCKS.values())


def block(name: str) -> Block:
    _load_builtin_blocks()
    if name not in _BLOCKS:
        raise ValueError(f"unknown block {name!r}; allowed: {', '.join(_BLOCKS)}")
    return _BLOCKS[name]


def parse_param(entry: Block, text: str) -> tuple[str, object]:
    """``"k=4"`` → ``("k", 4)``, converted to the field's declared type."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param must look like name=value, not {text!r}")
    types_by_name = {f.name: f.type for f in dataclasses.fields(entry.params)}
    types_by_name.update({name: f.type for name, (_, f) in entry.nested_fields().items()})
    for name in entry.nested():
        types_by_name[name] = str  # a choice's name; its Params make the choice
    if key not in types_by_name:
        raise ValueError(
            f"unknown parameter {key!r} for block {entry.name!r}; "
            f"allowed: {', '.join(types_by_name)}"
        )
    kind = types_by_name[key]
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return key, raw.lower() in ("true", "1")
        return key, kind(raw)
    except ValueError:
        raise ValueError(f"parameter {key} must be {kind.__name__}, not {raw!r}") from None


def design_from_config(item, where: str) -> Design:
    """A design from one config entry ``{"block": NAME, "params": {...}}``."""
    if not isinstance(item, dict) or not isinstance(item.get("block"), str):
        raise ValueError(f"{where}: each entry must be an object with a string 'block'")
    values = item.get("params", {})
    if not isinstance(values, dict):
        raise ValueError(f"{where}: 'params' must be an object of name: value")
    entry = block(item["block"])
    return Design(entry, entry.make_params(values))


def _numpydoc_parameters(doc: str | None) -> list[tuple[list[str], str]]:
    """``([name, ...], meaning)`` of each entry (``a, b : int``) of a ``Parameters`` section."""
    lines = inspect.cleandoc(doc or "").splitlines()
    if "Parameters" not in lines:
        return []
    entries: list[tuple[list[str], str]] = []
    for line in lines[lines.index("Parameters") + 2 :]:
        if line and not line.startswith(" "):
            match = re.match(r"(\w+(?:, \w+)*) :", line)
            if not match:
                break  # the next section
            entries.append((match.group(1).split(", "), ""))
        elif entries and line.strip():
            names, text = entries[-1]
            entries[-1] = (names, f"{text} {line.strip()}".strip())
    return entries


def _expand_names(cls: type, text: str) -> str:
    """``:data:`FAT_ARCHS``` → the values it names (``'fat', 'parapim'``)."""
    module = importlib.import_module(cls.__module__)

    def values(match) -> str:
        path = match.group(1).lstrip("~")
        owner, _, name = path.rpartition(".")
        named = getattr(importlib.import_module(owner) if owner else module, name, None)
        return ", ".join(map(repr, named)) if named else name

    return re.sub(r":data:`([\w.~]+)`", values, text)


def _load_builtin_blocks() -> None:
    for module in _BUILTIN:
        importlib.import_module(module)


#: Modules whose import registers the built-in blocks.
_BUILTIN = (
    "moetile.hw.topk.block",
    "moetile.hw.fat.block",
    "moetile.hw.gemv.block",
    "moetile.hw.mixpe.block",
    "moetile.hw.xbar.block",
    "moetile.hw.gocache.block",
    "moetile.hw.predictor.block",
    "moetile.hw.expert_cache.block",
    "moetile.hw.moe.block",
)
