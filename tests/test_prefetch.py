"""Prefetch during decode: the memory channel's order and timing, every prefetcher's generation
bit-exact with every fetch and refusal the golden cache's (decision by decision), the oracle
asking for exactly what each batch needs, the host's attention in the cycles, and bad input
refused with one line."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from moetile.app.bench.prefetch import QUICK_HARDWARE, _model, _suite
from moetile.app.cli import main
from moetile.app.cosim.generate import generate
from moetile.app.cosim.settings import CosimSettings
from moetile.sim.offchip import MemoryQueue, MemoryRequest, OffChipMemory
from moetile.sw.cost.attention import ATTENTION_MACS, attention_cycles
from moetile.sw.predictor.suite import load_suite

pytestmark = pytest.mark.cosim


@pytest.fixture(scope="module")
def model() -> Path:
    """``moetile bench prefetch --quick``'s model (its designs shared with that run)."""
    return _model(True, lambda message: None)


@pytest.fixture(scope="module")
def settings(model) -> CosimSettings:
    predictor = str(_suite(model, True, lambda message: None))
    return CosimSettings(
        model=str(model),
        engine="mixpe",
        **QUICK_HARDWARE,
        generate=3,
        prompts=4,
        prompt_tokens=2,
        max_tokens=16,
        cache_slots=8,
        predictor=predictor,
    )


def test_the_memory_serves_misses_before_waiting_prefetches():
    memory = OffChipMemory.named("lpddr5", 100.0)  # 512 bytes a cycle, 10 cycles
    queue = MemoryQueue(memory)

    def ask(at, sizes, priority, tag):
        queue.ask(MemoryRequest(at, sizes, priority, tag))

    ask(0, [1024.0] * 4, 1, "first prefetch")
    alone = queue.requests[0].ready
    assert alone == [i for i, bit in enumerate(memory.offers([1024.0] * 4)) if bit]
    ask(0, [512.0] * 2, 1, "second prefetch")
    assert queue.requests[1].ready == [alone[-1] + 1, alone[-1] + 2]  # after the first's bytes
    # A miss at cycle 12: the first prefetch has begun and goes on; the waiting one goes last.
    ask(12, [512.0], 0, "miss")
    assert [r.tag for r in queue.requests] == ["first prefetch", "miss", "second prefetch"]
    assert queue.requests[1].ready == [22] and queue.requests[2].ready == [23, 24]
    assert queue.ready() == [*alone, 22, 23, 24]
    assert queue.take(5, list(range(100, 105))) == [("first prefetch", 103), ("miss", 104)]
    ask(1000, [512.0], 1, "later")
    assert queue.requests[-1].ready == [1010]  # an idle memory: its latency alone


def test_attention_costs_its_macs_and_its_kv_reads():
    macs = 4 * 64 * 64 + 2 * 10 * 64
    assert attention_cycles(64, 10) == -(-macs // ATTENTION_MACS)
    assert attention_cycles(64, [10, 10], 512.0) == -(-2 * macs // 64) + -(
        -2 * 2 * 10 * 64 * 2 // 512
    )


@pytest.mark.parametrize("scheme", ["none", "fate", "prev", "preattn", "oracle"])
def test_every_prefetcher_is_bit_exact_and_the_golden_cache_s(settings, scheme):
    report = generate(replace(settings, prefetch=scheme), lambda message: None)
    f = report["prefetch"]
    assert report["bit_exact"] and report["generation"]["equal_to_golden"]
    assert f["equal_to_reference"], f
    split = report["decode"]["split_per_token"]
    assert split["attention"] > 0
    if scheme == "none":
        assert f["prefetch_fills"] == f["already_on_chip"] == 0
    else:
        assert f["prefetch_fills"] + f["already_on_chip"] > 0
    if scheme == "oracle":  # exactly the experts each batch needs
        assert f["accuracy"] == f["coverage"] == 1.0 and f["wasted_bytes"] == 0
    if scheme == "preattn":
        assert f["predictor_cycles_per_layer"] > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--prefetch", "psychic"], "prefetch must be one of 'none', 'preattn'"),
        (["--prefetch", "fate", "--generate", "0"], "prefetch works with --generate"),
        (["--prefetch", "fate", "--cache-slots", "0"], "prefetch needs expert slots on chip"),
        (["--prefetch", "fate", "--backend", "golden"], "prefetch runs on the fast backend"),
        (["--prefetch", "fate", "--cache", "none"], "use --prefetch none with it"),
        (["--prefetch", "fate", "--prefetch-extra", "7"], "prefetch_extra must be at most 6"),
        (["--prefetch", "fate", "--prefetch-extra", "-1"], "prefetch_extra must be an integer"),
    ],
)
def test_bad_prefetch_is_refused_in_one_line(model, tmp_path, capsys, options, message):
    out = tmp_path / "out"
    argv = ["cosim", "--model", str(model), "--generate", "2", "--engine", "mixpe"]
    argv += [*options, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_predictors_of_another_model_are_refused(settings, tmp_path):
    """A suite trained for the bench's full model (128 wide) on the quick one (64 wide)."""
    suite = load_suite(Path(settings.predictor))
    other = tmp_path / "other"
    shutil.copytree(settings.predictor, other)
    meta = json.loads((other / "predictor.json").read_text())
    meta["params"]["hidden"] = 2 * suite.params.hidden
    (other / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="holds predictors for .* not this model"):
        generate(replace(settings, prefetch="preattn", predictor=str(other)), lambda m: None)
