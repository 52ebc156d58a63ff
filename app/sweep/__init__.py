"""Design-space sweeps (``moetile sweep SPEC``): every point of a spec's axes co-simulated as an
independent job on a local process pool or a Dask cluster, each result cached by its inputs and
moetile's sources, the results one table and a Pareto plot."""

from .run import SweepResult, sweep
from .spec import METRICS, SweepSpec, read_spec

__all__ = ["METRICS", "SweepResult", "SweepSpec", "read_spec", "sweep"]
