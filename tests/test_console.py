"""Tables and claims as a user reads them: within a 100-column terminal, nothing left out;
each paper figure scored on both sides and named by its paper, targets apart."""

import json

import pytest

from moetile.app.bench import BENCHES, PAPERS, Claim, claim_text
from moetile.app.cli import main
from moetile.sw.console import TABLE_WIDTH, print_table


def _wide_rows() -> list[dict]:
    """Rows told apart by their first two columns, with 14 long numeric columns."""
    return [
        {"workload": w, "prompt": p, **{f"column_number_{i:02}": 1000 * i + p for i in range(14)}}
        for w in ("tiny-moe", "random")
        for p in (8, 16)
    ]


def _printed(capsys, rows, **kwargs) -> list[str]:
    print_table(rows, **kwargs)
    return capsys.readouterr().out.splitlines()


def test_wide_table_is_split_repeating_the_columns_that_name_a_row(capsys):
    rows = _wide_rows()
    lines = _printed(capsys, rows)
    assert max(map(len, lines)) <= TABLE_WIDTH
    headers = [line.split() for line in lines if line.startswith("workload")]
    assert len(headers) > 1 and all(h[:2] == ["workload", "prompt"] for h in headers)
    shown = [word for h in headers for word in h[2:]]
    assert shown == list(rows[0])[2:]  # every column once, in order
    for row in rows:  # every value beside its row's name
        mine = [
            line.split()
            for line in lines
            if line.split()[:2] == [row["workload"], str(row["prompt"])]
        ]
        assert [v for line in mine for v in line[2:]] == [str(v) for v in list(row.values())[2:]]


def test_table_that_fits_is_one_table(capsys):
    rows = [{"design": "fat", "cells": 120}, {"design": "mixpe", "cells": 99}]
    assert _printed(capsys, rows) == ["design  cells", "fat     120", "mixpe   99"]


def test_long_last_cell_wraps_under_its_column(capsys):
    source = "A. Shafiee et al., 'ISAAC', ISCA 2016, Table 6, 32 nm, " * 3
    lines = _printed(capsys, [{"action": "adc8", "pj": 1.67, "source": source.strip()}])
    assert max(map(len, lines)) <= TABLE_WIDTH and len(lines) > 2
    column = lines[0].index("source")
    assert all(line[:column].strip() == "" for line in lines[2:])
    assert " ".join(line[column:] for line in lines[1:]).split() == source.split()


def test_claims_name_their_paper_within_the_width():
    paper = Claim("speedup", "cycles " * 30, 10.02, 9.9813, "the baseline", source=PAPERS["fat"])
    text = claim_text(paper.to_json()).splitlines()
    assert text[0] == "claim speedup: measured 9.9813 vs paper 10.02 (-0.4%): within 10 %"
    assert text[1].startswith(f"    {PAPERS['fat']}: cycles")
    assert max(map(len, text)) <= TABLE_WIDTH and text[-1].endswith("against the baseline")
    target = Claim("bit_exact", "share exact", 1.0, 1.0, "the golden", source=None).to_json()
    assert claim_text(target, "cosim/").splitlines() == [
        "target cosim/bit_exact: measured 1.0000 vs target 1.00: met",
        "    moetile's own target: share exact; against the golden",
    ]


def test_beyond_the_paper_says_why():
    why = "the baseline is weaker than the paper's " * 4
    claim = Claim("x", "what", 2.0, 3.0, "b", source=PAPERS["mixpe"], beyond=why).to_json()
    text = claim_text(claim).splitlines()
    assert text[0].endswith("(+50.0%): beyond")
    assert text[2].startswith("    beyond the paper: the baseline")
    assert all(line.startswith("      ") for line in text[3:]) and len(text) > 3
    within = Claim("x", "what", 2.0, 2.1, "b", source=PAPERS["mixpe"], beyond=why).to_json()
    assert within["beyond"] == "" and "beyond" not in claim_text(within)


@pytest.mark.parametrize(
    ("paper", "measured", "at_least", "score"),
    [
        (10.02, 9.02, True, "within 10 %"),  # -9.98 %
        (10.02, 9.0, True, "short"),
        (2.2, 2.41, True, "within 10 %"),
        (2.2, 2.43, True, "beyond"),
        (2.0, 1.7, False, "beyond"),  # lower is better: 15 % under
        (2.0, 2.3, False, "short"),
    ],
)
def test_paper_figures_are_scored_on_both_sides(paper, measured, at_least, score):
    claim = Claim("x", "what", paper, measured, "b", at_least=at_least, source=PAPERS["fat"])
    assert claim.score == score


def test_targets_are_met_or_missed_without_rounding():
    assert Claim("x", "w", 2.00, 1.9996, "b", source=None).score == "missed"
    assert Claim("x", "w", 2.00, 2.0, "b", source=None).score == "met"
    assert Claim("x", "w", 2.0, 1.9, "b", at_least=False, source=None).score == "met"
    assert Claim("x", "w", 2.0, 2.0001, "b", at_least=False, source=None).score == "missed"


def run(progress, quick=False):
    """A stand-in benchmark with a paper figure and a target (registered by the test below)."""
    from moetile.app.bench import BenchReport

    claims = [
        Claim("own", "a target", 1.0, 2.0, "b", source=None),
        Claim("figure", "a paper's figure", 2.0, 1.0, "b", source=PAPERS["mixpe"]),
    ]
    return BenchReport("fake", [{"run": 1}], claims)


def test_report_lists_paper_figures_apart_from_targets(tmp_path, monkeypatch, capsys):
    from moetile.app import bench
    from moetile.sw.paths import CACHE_DIR_ENV

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(bench, "BENCHES", {"fake": __name__})
    assert main(["report"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "claim fake/figure: measured 1.0000 vs paper 2.00 (-50.0%): short"
    assert out[1].startswith(f"    {PAPERS['mixpe']}: ")
    assert out[2] == "target fake/own: measured 2.0000 vs target 1.00: met"
    assert out[-1] == "1 paper figures: 1 short, 0 within 10 %, 0 beyond; 1 of 1 own targets met"
    assert main(["report", "--json"]) == 0
    claims = json.loads(capsys.readouterr().out)["claims"]
    assert [c["source"] for c in claims] == [None, PAPERS["mixpe"]]


def test_every_benchmark_claim_names_a_known_paper_or_none():
    """Static: each benchmark module passes ``source=`` a :data:`PAPERS` entry or ``None``."""
    from importlib.util import find_spec
    from pathlib import Path

    for module in BENCHES.values():
        text = Path(find_spec(module).origin).read_text()
        assert text.count("Claim(") == text.count("source="), module
        for used in text.split('PAPERS["')[1:]:
            assert used.split('"')[0] in PAPERS, module
