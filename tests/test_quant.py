"""Ternary quantization (TWN) and the real model weights it is applied to."""

import pytest
import torch

from moetile.sw.models.minilm import ffn_weight
from moetile.sw.quant.ternary import ternarize


def test_ternarize_by_hand():
    w = torch.tensor([[0.1, -1.0, 0.5, -0.2], [0.0, 0.0, 0.0, 0.0]])
    t = ternarize(w)
    # Row 0: mean |w| = 0.45, delta = 0.315: keeps -1.0 and 0.5.
    assert t.codes.tolist() == [[0, -1, 1, 0], [0, 0, 0, 0]]
    assert t.scale.tolist() == pytest.approx([0.75, 0.0])
    assert t.threshold.tolist() == pytest.approx([0.315, 0.0])
    assert t.sparsity == pytest.approx(6 / 8)
    assert torch.equal(ternarize(w, threshold_factor=0).codes[0], torch.tensor([1, -1, 1, -1]))


@pytest.mark.parametrize(
    ("weight", "kwargs", "message"),
    [
        (
            torch.tensor([[0.0, float("nan")]]),
            {},
            r"weight must be finite; it holds nan at \(0, 1\)",
        ),
        (torch.tensor([[float("inf"), 0.0]]), {}, r"it holds inf at \(0, 0\)"),
        (torch.zeros(3), {}, "weight must be 2-D"),
        (torch.zeros(2, 2, dtype=torch.int64), {}, "floating-point"),
        (torch.zeros(2, 2), {"threshold_factor": float("nan")}, "threshold_factor must be"),
        (torch.zeros(2, 2), {"threshold_factor": -1}, "threshold_factor must be"),
    ],
)
def test_ternarize_rejects_bad_input(weight, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ternarize(weight, **kwargs)


def test_minilm_ffn_ternarizes_with_natural_sparsity():
    weight = ffn_weight(0)
    assert tuple(weight.shape) == (1536, 384)
    t = ternarize(weight)
    # TWN on roughly Gaussian weights zeroes a bit under half of them.
    assert 0.3 < t.sparsity < 0.6
    with pytest.raises(ValueError, match=r"layer must be an integer in \[0, 5\], not 6"):
        ffn_weight(6)
