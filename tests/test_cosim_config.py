"""A co-simulation can be repeated exactly: every run writes its settings beside its report,
and ``moetile cosim --config`` runs them again, with options typed as well taking precedence."""

from dataclasses import asdict, fields
from unittest import mock

import pytest

from moetile.app.cli import main
from moetile.app.cosim.run import CosimSettings
from moetile.app.cosim.settings_file import read_settings, settings_toml
from moetile.sw.console import UserError

NAMES = tuple(f.name for f in fields(CosimSettings))


class _Started(Exception):
    """The run got as far as simulating, with these settings."""


def _settings_of(argv) -> CosimSettings:
    def cosim(settings, *args):
        raise _Started(settings)

    with mock.patch("moetile.app.cosim.run.cosim", cosim), pytest.raises(_Started) as started:
        main(["cosim", *argv])
    return started.value.args[0]


def test_settings_round_trip_through_toml(tmp_path):
    settings = CosimSettings(model='some dir/with "quotes"', tokens=7, engine="xbar")
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(asdict(settings)))
    assert CosimSettings(**read_settings(path, NAMES)) == settings


def test_config_runs_the_recorded_settings_and_typed_options_win(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(asdict(CosimSettings(tokens=7, engine="mixpe", lanes=4))))
    out = ["--out", str(tmp_path / "out")]
    assert _settings_of(["--config", str(path), *out]) == CosimSettings(
        tokens=7, engine="mixpe", lanes=4
    )
    typed = _settings_of(["--config", str(path), "--tokens", "128", "--lanes", "8", *out])
    assert (typed.tokens, typed.lanes, typed.engine) == (128, 8, "mixpe")
    assert _settings_of(out) == CosimSettings()


def test_params_set_the_engine_s_and_the_layer_s_knobs(tmp_path):
    """``--param``: the engine's Params fields and the layer's knobs, kept in the settings as
    one ``params`` text; a typed knob replaces the same knob of ``--config`` and keeps the
    others."""
    out = ["--out", str(tmp_path / "out")]
    typed = ["--engine", "mixpe", "--param", "group=64", "--param", "router_macs=16", *out]
    settings = _settings_of(typed)
    assert settings.params == "group=64,router_macs=16"
    hardware = settings.hardware()
    assert (hardware["engine"].group, hardware["router_macs"], hardware["lanes"]) == (64, 16, 16)
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(asdict(settings)))
    again = _settings_of(["--config", str(path), "--param", "group=128", *out])
    assert again.params == "group=128,router_macs=16"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--param", "group"], "--param must look like NAME=VALUE, not 'group'"),
        (["--param", "group=64"], "the knobs of engine 'fat' are NAME=VALUE with NAME one of"),
        (["--engine", "xbar", "--param", "hidden=64"], "one of router_macs, exp_entries"),
        (["--engine", "mixpe", "--param", "group=48"], "group must be one of 32, 64, 128, not 48"),
        (["--engine", "xbar", "--param", "cell_bits=two"], "cell_bits must be an integer"),
        (["--engine", "mixpe", "--param", "group=32", "--arrays", "64"], "at most group (32)"),
    ],
)
def test_bad_params_are_one_line(argv, message, tmp_path, capsys):
    assert main(["cosim", *argv, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("moetile: error:") and message in error, error


@pytest.mark.parametrize(
    "text, message",
    [
        ("tokens = 8\nwidth = 3\n", "unknown setting 'width'; allowed: model, tokens"),
        ("tokens = \n", "is not valid TOML"),
    ],
)
def test_a_bad_config_is_refused_by_name(tmp_path, text, message):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_settings(path, NAMES)
    with pytest.raises(UserError, match="cannot read --config"):
        read_settings(tmp_path / "missing.toml", NAMES)


def test_a_config_value_of_the_wrong_type_is_refused(tmp_path, capsys):
    path = tmp_path / "settings.toml"
    path.write_text('tokens = "many"\n')
    assert main(["cosim", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "tokens must be an integer >= 1, not 'many'" in capsys.readouterr().err


def test_the_quality_step_scales_with_the_run():
    assert CosimSettings(tokens=8).resolved().quality_tokens == 64
    assert CosimSettings().resolved().quality_tokens == 1024
    assert CosimSettings(tokens=4096).resolved().quality_tokens == 1024
    assert CosimSettings(tokens=8, quality_tokens=0).resolved().quality_tokens == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tokens", "100000000"], "tokens must be at most"),
        (["--quality-tokens", "100000000"], "quality_tokens must be at most"),
    ],
)
def test_sizes_beyond_the_text_are_refused_before_training(argv, message, tmp_path, capsys):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before the sizes were checked")

    with mock.patch("moetile.app.cosim.run.resolve_model", must_not_train):
        assert main(["cosim", *argv, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_the_report_carries_the_area_from_the_synthesis_cache_or_synthesized():
    """The area ``moetile synth`` counts for the same Verilog: from the cache when it is there,
    synthesized only when asked (Yosys itself is tested by the synth tests)."""
    from moetile.app.cosim.run import design_area
    from moetile.hw.moe import MoELayerParams
    from moetile.sw.cost.synth import SynthResult

    result = SynthResult("moe_layer", 1234, {}, 5678, 3)
    quiet = lambda message: None  # noqa: E731
    params = MoELayerParams()
    with (
        mock.patch("moetile.sw.cost.synth.synthesized", return_value=None),
        mock.patch("moetile.sw.cost.synth.synthesize", return_value=result) as synthesize,
    ):
        assert design_area(params, False, quiet) is None
        assert synthesize.call_count == 0
        area = design_area(params, True, quiet)
        assert area == {"design": "moe_layer", "cells": 1234, "memory_bits": 5678}
        (verilog, top), _ = synthesize.call_args
        assert top == "moe_layer" and verilog.name == "moe_layer.v"
    with mock.patch("moetile.sw.cost.synth.synthesized", return_value=result):
        assert design_area(params, False, quiet) == area
