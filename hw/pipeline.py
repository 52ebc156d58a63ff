"""Pipeline registers: a stage holds, for one cycle, the values the stage before it computed."""

from amaranth import Cat, Signal, Value

__all__ = ["Pipeline", "Stage"]


class Stage:
    """The registers of one pipeline stage: ``Stage(m, "s2", valid=v, y=y)`` has ``.valid``
    and ``.y``, each the value given one cycle earlier, with its shape; with ``advance``, the
    value given the last cycle ``advance`` was high (a stage that stalls)."""

    def __init__(self, m, name: str, advance=None, **values):
        self.names = tuple(values)
        for key, value in values.items():
            value = Value.cast(value)
            register = Signal(value.shape(), name=f"{name}_{key}")
            if advance is None:
                m.d.sync += register.eq(value)
            else:
                with m.If(advance):
                    m.d.sync += register.eq(value)
            setattr(self, key, register)

    def carry(self, *names: str) -> dict:
        """``{name: register}`` of ``names``, to pass on to the next stage."""
        return {name: getattr(self, name) for name in names}


class Pipeline:
    """The stages of one pipeline, each with a ``valid`` register: ``occupied`` while any
    holds work. ``registered=False`` makes :meth:`through` pass values on unregistered: one
    datapath, with or without its pipeline registers. With ``advance`` every stage moves
    only when it is high: the whole pipeline stalls as one."""

    def __init__(self, m, registered: bool = True, advance=None):
        self.m = m
        self.registered = registered
        self.advance = advance
        self.stages: list[Stage] = []

    def stage(self, name: str, **values) -> Stage:
        stage = Stage(self.m, name, self.advance, **values)
        self.stages.append(stage)
        return stage

    def through(self, name: str, values: dict) -> dict:
        """``values`` through a stage named ``name``, or as they are when the pipeline is
        not ``registered``."""
        if not self.registered:
            return values
        stage = self.stage(name, **values)
        return stage.carry(*stage.names)

    @property
    def occupied(self) -> Value:
        return Cat(stage.valid for stage in self.stages).any()
