"""Generation with the experts off chip: the off-chip memory model's timing (alone and on the
fast harness), the decode loop (greedy, KV cache, every step on the accelerator, the text the
golden model's), and the command's answers to bad input."""

import json
from pathlib import Path

import pytest
import torch

from moetile.app.bench import trained_model_path
from moetile.app.bench.cosim import QUICK_BATCH, QUICK_HARDWARE, QUICK_MODEL, QUICK_MODEL_NAME
from moetile.app.cli import main
from moetile.app.cosim.backends import FastBackend
from moetile.app.cosim.generate import generate
from moetile.app.cosim.settings import CosimSettings
from moetile.sim.offchip import MEMORIES, OffChipMemory, dram_pj_per_byte
from moetile.sw.mapping.moe_layer import load_words, word_bytes
from moetile.sw.models.corpus import stdlib_corpus
from moetile.sw.models.tiny_moe import load_tiny_moe
from moetile.sw.runtime.backends import GoldenBackend
from moetile.sw.runtime.model import AcceleratedModel

HARDWARE = dict(**QUICK_HARDWARE, max_tokens=QUICK_BATCH)


def _generation(model: Path, tokens: int, **choices) -> CosimSettings:
    """``tokens`` generated after each of 3 five-token prompts on the quick design."""
    return CosimSettings(
        model=str(model), generate=tokens, prompts=3, prompt_tokens=5, **HARDWARE, **choices
    )


@pytest.fixture(scope="module")
def small_model() -> Path:
    return trained_model_path(QUICK_MODEL, QUICK_MODEL_NAME, lambda message: None)


@pytest.fixture(scope="module")
def accelerated(small_model) -> AcceleratedModel:
    model = AcceleratedModel(load_tiny_moe(small_model), {**QUICK_HARDWARE}, QUICK_BATCH)
    train, _ = stdlib_corpus().split_bytes()
    model.calibrate([train[:32], train[32:64]])
    return model


def test_presets_carry_their_figures():
    assert MEMORIES["lpddr5"].gb_per_s == 51.2 and MEMORIES["hbm3"].gb_per_s == 819.2
    assert MEMORIES["pcie4"].gb_per_s == 32.0
    assert all(
        "JEDEC" in p.bandwidth_source or "PCI-SIG" in p.bandwidth_source for p in MEMORIES.values()
    )
    memory = OffChipMemory.named("lpddr5", 100.0)
    assert memory.bytes_per_cycle == pytest.approx(512.0)
    assert memory.latency_cycles == 10  # 100 ns at 100 MHz
    assert dram_pj_per_byte() == pytest.approx(1300.0 / 8)
    assert memory.energy_pj(1000) == pytest.approx(162500.0)


def test_a_fetch_waits_its_latency_then_moves_at_the_bandwidth():
    # 51.2 GB/s at 2 GHz: 25.6 bytes a cycle; 96-byte words are ready every 3.75 cycles.
    memory = OffChipMemory.named("lpddr5", 2000.0)
    assert memory.latency_cycles == 200
    offers = memory.offers([96] * 5)
    assert offers[:200] == [0] * 200
    ready = [n - 200 + 1 for n, bit in enumerate(offers) if bit]
    assert ready == [4, 8, 12, 15, 19]  # ceil(96 k / 25.6)
    # A memory faster than the port: one word a cycle, right after the latency.
    fast = OffChipMemory.named("hbm3", 100.0)
    assert fast.offers([96] * 3) == [0] * fast.latency_cycles + [1, 1, 1]
    assert fast.words_per_cycle(96) == 1.0 and memory.words_per_cycle(96) == pytest.approx(
        0.2667, abs=1e-4
    )
    # Small words share the cycles of the bytes before them: never two words a cycle.
    assert memory.offers([8] * 4)[200:] == [1, 1, 1, 1]


def test_a_bandwidth_or_latency_given_replaces_the_preset_s():
    memory = OffChipMemory.named("lpddr5", 100.0, gb_per_s=6.4, latency_ns=250.0)
    assert memory.bytes_per_cycle == pytest.approx(64.0) and memory.latency_cycles == 25
    figures = memory.to_json()
    assert figures["bandwidth_source"] == "set" and figures["latency"] == "set"
    assert figures["what"] == "LPDDR5, x64 at 6400 MT/s, its bandwidth 6.4 GB/s"
    assert OffChipMemory.named("lpddr5", 100.0).to_json()["latency"] == "assumed"


@pytest.mark.parametrize(
    "figures, message",
    [
        ({"gb_per_s": 0.0}, "bandwidth must be a positive number of GB/s, not 0.0"),
        ({"gb_per_s": float("inf")}, "bandwidth must be a positive number of GB/s, not inf"),
        ({"latency_ns": -1.0}, "memory_latency must be a number of ns >= 0, not -1.0"),
    ],
)
def test_a_bandwidth_of_zero_or_a_negative_latency_is_refused(figures, message):
    with pytest.raises(ValueError, match=message):
        OffChipMemory.named("hbm3", 100.0, **figures)


@pytest.mark.parametrize("name, message", [("ddr9", "memory must be one of"), ("lpddr5", "clock")])
def test_bad_memory_is_refused(name, message):
    with pytest.raises(ValueError, match=message):
        OffChipMemory.named(name, 0.0 if name == "lpddr5" else 100.0)


@pytest.mark.cosim
def test_the_harness_loads_at_the_memory_s_pace(accelerated):
    """A layer's load through the fast harness takes the memory model's cycles: its latency,
    then its bandwidth (here a slow clock makes the memory faster than the port, and a fast
    one slower)."""
    layer = accelerated.quantized[0]
    sizes = word_bytes(layer.params, load_words(layer.integer)).tolist()
    x, codes = layer.encode(torch.zeros(1, layer.params.hidden), "layer 0")
    for mhz in (100.0, 4000.0):
        memory = OffChipMemory.named("lpddr5", mhz)
        backend = FastBackend(layer.params, memory)
        try:
            run = backend.run(0, layer, x, codes)
        finally:
            backend.close()
        assert run.extra["fetched_bytes"] == sum(sizes)
        assert run.stats["load"] == memory.fetch_cycles(sizes)
    # At 4 GHz the load is bandwidth-bound: its bytes over 12.8 bytes a cycle.
    assert memory.fetch_cycles(sizes) >= sum(sizes) / memory.bytes_per_cycle


def test_greedy_generation_is_the_argmax_of_the_whole_sequence(accelerated):
    """The decode loop with its KV cache computes, at every step, the logits the model computes
    when it reads the prompt and every token so far at once, and picks their best token."""
    _, validation = stdlib_corpus().split_bytes()
    prompts = torch.stack([validation[:6], validation[100:106]])
    golden, steps_logits = GoldenBackend(), []
    tokens = accelerated.generate(prompts, 5, golden, logits=steps_logits)
    steps = sorted({r.step for r in accelerated.records})
    assert steps == [0, 1, 2, 3, 4]
    assert {r.tokens for r in accelerated.records if r.step} == {2}
    accelerated.records = []
    stepped = torch.stack(steps_logits, dim=1)  # (B, steps, vocabulary)
    for prompt, generated, each in zip(prompts, tokens, stepped, strict=True):
        sequence = torch.cat([prompt, generated])
        logits = accelerated.forward(sequence, golden)
        assert torch.allclose(logits[5:-1], each, atol=1e-4)
        assert torch.equal(each.argmax(-1), generated)
    accelerated.records = []


@pytest.mark.cosim
def test_generation_on_the_fast_harness_is_bit_exact(small_model, accelerated):
    """Without a cache (``cache_slots=0``), every layer is fetched whole at every step, from a
    memory of 6.4 GB/s (64 bytes a cycle at 100 MHz) after 1 µs."""
    settings = _generation(small_model, 4, cache_slots=0, bandwidth=6.4, memory_latency=1000.0)
    report = generate(settings, lambda m: None)
    assert report["cache_slots"] == 0 and "cache" not in report
    memory = report["memory"]
    assert memory["bytes_per_cycle"] == pytest.approx(64.0) and memory["latency_cycles"] == 100
    assert report["bit_exact"]
    g = report["generation"]
    assert g["equal_to_golden"] and len(g["texts"]) == 3
    assert all(len(t["generated"].encode()) >= 1 for t in g["texts"])
    steps = report["steps"]
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    assert steps[0]["tokens"] == 15 and all(s["tokens"] == 3 for s in steps[1:])
    layer = accelerated.quantized[0]
    layer_bytes = int(word_bytes(layer.params, load_words(layer.integer)).sum())
    for s in steps:  # every layer fetched whole at every step
        assert s["fetched_bytes"] == 2 * layer_bytes
        assert s["cycles"]["fetch"] > 0 and s["cycles"]["compute"] > 0
    decode = report["decode"]
    assert decode["tokens"] == 3 * 3
    assert decode["fetched_bytes_per_token"] == pytest.approx(2 * layer_bytes / 3)
    assert sum(decode["split_per_token"].values()) == pytest.approx(decode["cycles_per_token"])
    assert decode["tokens_per_second"] == pytest.approx(100e6 / decode["cycles_per_token"])
    assert 0 < decode["utilization"] <= 1
    assert [row["layer"] for row in report["layers"]] == [0, 1]


@pytest.mark.cosim
@pytest.mark.parametrize("cache", ["lru", "lfu", "none"])
def test_generation_behind_the_expert_cache(small_model, accelerated, cache):
    """Half the model's experts on chip (the default), the cache's fetches the golden policy's
    at every step; emptied before every batch (``none``), nothing hits and every expert a batch
    needs is fetched, more bytes than with the cache."""
    settings = _generation(small_model, 6, cache=cache)
    report = generate(settings, lambda m: None)
    assert report["bit_exact"] and report["generation"]["equal_to_golden"]
    c = report["cache"]
    assert report["cache_slots"] == c["slots"] == 4  # 2 layers x 4 experts, halved
    assert c["equal_to_reference"] and c["lookups"] > 0
    decode = report["decode"]
    rows = report["layers"]
    assert all(row["cycles_per_token"]["fetch"] > 0 for row in rows)
    if cache == "none":
        assert c["hit_rate"] == decode["cache"]["hit_rate"] == 0
    else:
        assert 0 < c["hit_rate"] <= decode["cache"]["hit_rate"] <= 1
    layer = accelerated.quantized[0]
    whole = int(word_bytes(layer.params, load_words(layer.integer)).sum())
    assert decode["fetched_bytes_per_token"] < 2 * whole / 3  # never every expert


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--prompts", "17"], "prompts must be at most 16, not 17: a decode step"),
        (["--generate", "30"], "generate must be at most 27, not 30"),
        (["--memory", "ddr9"], "memory must be one of 'lpddr5', 'hbm3', 'pcie4'"),
        (["--bandwidth", "0"], "bandwidth must be a positive number of GB/s, not 0.0"),
        (["--backend", "cocotb"], "--generate runs on the fast or golden backend"),
        (["--generate", "-1"], "generate must be an integer >= 0"),
        (["--cache-slots", "1"], "cache_slots must be 0 or at least 2 (top_k 2 + shared"),
        (["--cache", "fifo"], "cache must be one of 'lru', 'lfu', 'none'"),
    ],
)
def test_cli_refuses_bad_generation_and_writes_nothing(
    small_model, arguments, message, tmp_path, capsys
):
    out = tmp_path / "out"
    base = ["cosim", "--model", str(small_model), "--lanes", "4", "--arrays", "2"]
    base += ["--max-tokens", "16", "--prompt-tokens", "5", "--generate", "3"]
    assert main([*base, *arguments, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_cli_generates_and_writes_report_and_plots(small_model, tmp_path, capsys):
    out = tmp_path / "gen"
    arguments = ["cosim", "--model", str(small_model), "--lanes", "4", "--arrays", "2"]
    arguments += ["--max-tokens", "16", "--generate", "3", "--prompts", "2"]
    arguments += ["--prompt-tokens", "4", "--backend", "golden", "--out", str(out)]
    assert main(arguments) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "the text equals the golden model's" in text and "prompt 1: " in text
    report = json.loads((out / "report.json").read_text())
    assert report["generation"]["new_tokens"] == 3 and "decode" not in report
    assert (out / "settings.toml").read_text().count("generate = 3") == 1


@pytest.mark.cosim
def test_generation_with_quotas_and_pinned_experts(small_model):
    """Fate's allocation: 6 slots, the most popular expert pinned and preloaded, the other 5 in
    per-layer quotas; every fetch still the golden policy's (configured alike), never into a
    pinned slot or another layer's."""
    settings = _generation(small_model, 4, cache_slots=6, cache_allocation="shallow", cache_pins=1)
    report = generate(settings, lambda m: None)
    assert report["bit_exact"] and report["generation"]["equal_to_golden"]
    c = report["cache"]
    assert c["equal_to_reference"] and len(c["pinned"]) == 1
    ((layer, _expert),) = c["pinned"]
    assert c["owners"] == [layer, 0, 0, 0, 1, 1]
