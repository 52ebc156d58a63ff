"""Golden MixPE: the exact W4A8 GEMM with one dequantization per group, and the cycle model
of the array and its baseline."""

import torch

from moetile.hw.mixpe import MixPEParams

from .fixed import check_integer_tensor

__all__ = ["check_group_weights", "mixpe_cycles", "mixpe_gemm"]


def check_group_weights(params: MixPEParams, codes, scales, zeros):
    """``(codes, scales, zeros)`` as ``int64`` after checking ranges and shapes: ``codes``
    ``(N, n_inputs)`` in ``[0, 15]``; ``scales`` and ``zeros`` ``(N, groups)``, scales in
    ``[0, 2**scale_width - 1]`` and zero points in ``[0, 15]``."""
    q = check_integer_tensor("codes", codes, lo=0, hi=params.code_range[1])
    s = check_integer_tensor("scales", scales, lo=0, hi=params.scale_range[1])
    z = check_integer_tensor("zeros", zeros, lo=0, hi=params.code_range[1])
    n = q.shape[0] if q.dim() == 2 else "N"
    for name, t, shape in (
        ("codes", q, (n, params.n_inputs)),
        ("scales", s, (n, params.groups)),
        ("zeros", z, (n, params.groups)),
    ):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, not {tuple(t.shape)}")
    return q, s, z


def mixpe_gemm(params: MixPEParams, x, codes, scales, zeros) -> torch.Tensor:
    """``y = x · dequant(q)ᵀ`` in the array's fixed point, exactly.

    For token ``m``, output ``n`` and group ``G`` (``group`` consecutive reduction steps)::

        P = sum_{j in G} q[n, j] * x[m, j]        S = sum_{j in G} x[m, j]
        acc[m, n] = sum_G scales[n, G] * (P - zeros[n, G] * S)
        y[m, n] = floor((acc[m, n] + 2**(out_shift - 1)) / 2**out_shift)

    ``x``: ``(M, n_inputs)`` int8; ``codes`` ``(N, n_inputs)``, ``scales`` and ``zeros``
    ``(N, groups)`` as :func:`check_group_weights` states; any ``M`` and ``N``. ``acc`` is in
    units of ``2**-scale_frac`` and lies in ``params.acc_range``; ``y`` in ``params.out_range``.
    """
    q, s, z = check_group_weights(params, codes, scales, zeros)
    lo, hi = params.act_range
    xs = check_integer_tensor("x", x, lo=lo, hi=hi)
    if xs.dim() != 2 or xs.shape[1] != params.n_inputs:
        raise ValueError(f"x must have shape (M, {params.n_inputs}), not {tuple(xs.shape)}")
    g, groups = params.group, params.groups
    xg = xs.reshape(len(xs), groups, g)
    qg = q.reshape(len(q), groups, g)
    group_sums = torch.einsum("mgj,ngj->mng", xg, qg)  # P
    act_sums = xg.sum(dim=2)  # S, (M, groups)
    acc = (s * (group_sums - z * act_sums[:, None, :])).sum(dim=2)
    return torch.div(
        acc + ((1 << params.out_shift) >> 1), 1 << params.out_shift, rounding_mode="floor"
    )


def mixpe_cycles(params: MixPEParams, passes) -> int:
    """Cycles from the first step's transfer to the last output transfer, inclusive, for
    back-to-back passes with every input offered each cycle and ``o`` always ready.
    ``passes``: how many full passes, or each pass's number of groups.

    ``mixpe``: a group's last step hands its sums to the dequantizers (``cols`` cycles); it
    waits while they are busy and, for a pass's first group, until the previous pass's
    ``cols`` results have left, which start the cycle after the last dequantization.
    ``group_multiplier``: as ``mixpe``. ``multiplier``: results leave from the cycle after the
    last step; the next pass's first step waits until they have. Pipelined, results leave
    :attr:`~MixPEParams.dequant_stages` cycles later.
    """
    g, cols, stages = params.group, params.cols, params.dequant_stages
    lengths = [params.groups] * passes if isinstance(passes, int) else list(passes)
    step, out_end = 0, -1
    if params.arch == "multiplier":
        for groups in lengths:
            first = max(step, out_end + 1)
            step = first + groups * g
            out_end = step + stages + cols - 1
        return out_end + 1
    free = 0  # first cycle at which the dequantizer can take a capture
    for groups in lengths:
        for group in range(groups):
            capture = max(step + g - 1, free)
            if group == 0:
                capture = max(capture, out_end + 1)
            free = capture + cols + 1
            step = capture + 1
        out_end = capture + 2 * cols + stages
    return out_end + 1
