"""Measures of small RGB frames (the grids of ``foxnb._frames``): change, PSNR, SSIM, colour.

All take 8-bit RGB arrays of shape ``(height, width, 3)`` and work in 8-bit levels, so their
figures read the same whatever size the videos were.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["PSNR_CAP_DB", "change", "lab", "luma", "luma_change", "psnr", "ssim"]

#: PSNR of identical frames (otherwise infinite), and the most any comparison reports.
PSNR_CAP_DB = 60.0

Frame = NDArray[np.uint8]


def change(a: Frame, b: Frame) -> float:
    """Mean absolute difference of two RGB frames, in 8-bit levels."""
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def luma(frame: Frame) -> NDArray[np.float64]:
    """BT.709 luma of an RGB frame."""
    return np.asarray(frame.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722]))


def luma_change(a: Frame, b: Frame) -> float:
    """Mean absolute difference of the luma of two RGB frames, in 8-bit levels."""
    return float(np.mean(np.abs(luma(a) - luma(b))))


def psnr(a: Frame, b: Frame) -> float:
    """Peak signal-to-noise ratio of two RGB frames in dB, at most ``PSNR_CAP_DB``."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(255**2 / mse))


def _box_mean(image: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Means over every ``size`` x ``size`` window that fits inside ``image``."""
    sums = np.pad(image, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    total = sums[size:, size:] - sums[:-size, size:] - sums[size:, :-size] + sums[:-size, :-size]
    return np.asarray(total / (size * size))


def ssim(a: NDArray[np.float64], b: NDArray[np.float64], size: int = 7) -> float:
    """Mean SSIM (Wang et al. 2004) of two luma images, over uniform 7x7 windows (the
    default of scikit-image's ``structural_similarity``): 1 identical, near 0 unrelated."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mean_a, mean_b = _box_mean(a, size), _box_mean(b, size)
    var_a = _box_mean(a * a, size) - mean_a**2
    var_b = _box_mean(b * b, size) - mean_b**2
    cov = _box_mean(a * b, size) - mean_a * mean_b
    ssim = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / (
        (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(np.mean(ssim))


def lab(rgb: NDArray[np.float64]) -> NDArray[np.float64]:
    """CIE L*a*b* (D65) of an sRGB colour given in 8-bit levels."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ linear
        / np.array([0.95047, 1.0, 1.08883])
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])
