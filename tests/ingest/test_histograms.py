"""Histogram buckets and the nine distribution values (reference §3.5, §5.4)."""

from __future__ import annotations

import numpy as np
import pytest
from tensorboard.plugins.distribution import compressor

from ingest.kinds import histograms
from ingest.kinds.histograms import BASIS_POINTS, compress, from_legacy, from_tensor


def test_basis_points() -> None:
    assert BASIS_POINTS == (0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000)


def test_reference_example() -> None:
    got = compress(np.array([[0, 1, 1], [1, 2, 2], [2, 3, 3]], dtype=np.float64))
    assert got[0] == 0.0
    assert got[4] == 2.0
    assert got[8] == 3.0
    assert got.round(4).tolist() == [0.0, 0.4008, 0.9522, 1.4255, 2.0, 2.383, 2.6826, 2.8664, 3.0]


def test_empty_and_degenerate() -> None:
    assert compress(np.zeros((0, 3))).tolist() == [0.0] * 9
    assert compress(np.array([[5.0, 5.0, 10.0]])).tolist() == [5.0] * 9
    # All counts zero: every basis point lies past the last bucket, as in TensorBoard.
    zero = np.array([[1.0, 2.0, 0.0], [2.0, 3.0, 0.0]])
    assert compress(zero).tolist() == [v for _, v in compressor.compress_histogram(zero.tolist())]
    assert compress(zero).tolist() == [3.0] * 9


@pytest.mark.parametrize("seed", range(30))
def test_compress_is_bit_identical_to_tensorboard(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 40))
    edges = np.sort(rng.standard_normal(k + 1) * 10)
    counts = rng.integers(0, 5, k).astype(np.float64)
    if seed % 3 == 0:
        counts[rng.integers(0, k, k // 2)] = 0
    buckets = np.stack([edges[:-1], edges[1:], counts], axis=1)
    want = [value for _, value in compressor.compress_histogram(buckets.tolist())]
    assert compress(buckets).tolist() == want


def test_legacy_trim_rounds_to_float32() -> None:
    got = from_legacy(0.5, 2.7, [0, 1, 2, 3, 4], [0, 1, 2, 3, 0])
    assert got is not None
    assert got.tolist() == [[0.5, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, float(np.float32(2.7)), 3.0]]
    assert from_legacy(0, 0, [1.0], [0.0]).shape == (0, 3)  # type: ignore[union-attr]
    assert from_legacy(0, 1, [1.0], [1.0, 0.0, 2.0]) is None  # limits missing
    # TF1-style outer DBL_MAX limits disappear with the empty outer buckets.
    dbl = np.finfo(np.float64).max
    got = from_legacy(0.05, 0.05, [0.047, 0.0525, dbl], [0.0, 6.0, 0.0])
    assert got is not None
    assert got.tolist() == [[float(np.float32(0.05)), float(np.float32(0.05)), 6.0]]


def test_from_tensor() -> None:
    assert from_tensor(np.ones((4, 3), np.float32)).dtype == np.float64  # type: ignore[union-attr]
    assert from_tensor(np.zeros((0,))).shape == (0, 3)  # type: ignore[union-attr]
    assert from_tensor(np.ones((4, 2))) is None
    assert from_tensor(np.array(["a"])) is None
    assert histograms.EMPTY.shape == (0, 3)
