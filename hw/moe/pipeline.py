"""Pipeline registers: a stage holds, for one cycle, the values the stage before it computed."""

from amaranth import Cat, Signal, Value

__all__ = ["Pipeline", "Stage"]


class Stage:
    """The registers of one pipeline stage: ``Stage(m, "s2", valid=v, y=y)`` has ``.valid``
    and ``.y``, each the value given one cycle earlier, with its shape."""

    def __init__(self, m, name: str, **values):
        self.names = tuple(values)
        for key, value in values.items():
            value = Value.cast(value)
            register = Signal(value.shape(), name=f"{name}_{key}")
            m.d.sync += register.eq(value)
            setattr(self, key, register)

    def carry(self, *names: str) -> dict:
        """``{name: register}`` of ``names``, to pass on to the next stage."""
        return {name: getattr(self, name) for name in names}


class Pipeline:
    """The stages of one pipeline, each with a ``valid`` register: ``occupied`` while any
    holds work."""

    def __init__(self, m):
        self.m = m
        self.stages: list[Stage] = []

    def stage(self, name: str, **values) -> Stage:
        stage = Stage(self.m, name, **values)
        self.stages.append(stage)
        return stage

    @property
    def occupied(self) -> Value:
        return Cat(stage.valid for stage in self.stages).any()
