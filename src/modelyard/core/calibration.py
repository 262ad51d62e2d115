"""Calibration bins and the expected calibration error, shared by the gates and live monitoring.

One binning: scikit-learn's ``calibration_curve(strategy="uniform")`` exactly (equal-width bins,
``searchsorted`` on the inner edges, so a score on an inner edge falls in the bin *below* it:
bins are ``[0, 0.1], (0.1, 0.2], …``). Figures are kept as per-bin counts (rows, score sums,
positives), which add up: the ECE of merged windows is the ECE of all their rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CalibrationCounts:
    """Per-bin rows, sums of scores and positive labels on ``len(rows)`` equal-width bins."""

    rows: np.ndarray
    score_sums: np.ndarray
    positives: np.ndarray

    @classmethod
    def empty(cls, n_bins: int = 10) -> CalibrationCounts:
        return cls(np.zeros(n_bins, dtype=np.int64), np.zeros(n_bins), np.zeros(n_bins))

    @classmethod
    def of(cls, y: np.ndarray, score: np.ndarray, n_bins: int = 10) -> CalibrationCounts:
        """Count binary labels ``y`` (0/1) against scores in [0, 1]."""
        y = np.asarray(y, dtype=float)
        score = np.asarray(score, dtype=float)
        if len(score) and (score.min() < 0 or score.max() > 1):
            raise ValueError("probabilities must lie in [0, 1]")
        ids = bin_ids(score, n_bins)
        return cls(
            np.bincount(ids, minlength=n_bins).astype(np.int64),
            np.bincount(ids, weights=score, minlength=n_bins),
            np.bincount(ids, weights=y, minlength=n_bins),
        )

    def __add__(self, other: CalibrationCounts) -> CalibrationCounts:
        if len(self.rows) != len(other.rows):
            raise ValueError(f"cannot merge {len(self.rows)} bins with {len(other.rows)}")
        return CalibrationCounts(
            self.rows + other.rows,
            self.score_sums + other.score_sums,
            self.positives + other.positives,
        )

    def reliability(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean predicted, observed frequency, rows) for each non-empty bin."""
        nz = self.rows != 0
        rows = self.rows[nz]
        return self.score_sums[nz] / rows, self.positives[nz] / rows, rows

    def ece(self) -> float:
        """Row-weighted mean |observed frequency - mean score| over non-empty bins (NaN: none)."""
        pred, obs, rows = self.reliability()
        if rows.sum() == 0:
            return float("nan")
        return float(np.sum(rows / rows.sum() * np.abs(obs - pred)))


def bin_ids(score: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """The bin of each score: ``calibration_curve``'s ``searchsorted(edges[1:-1], score)``."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], np.asarray(score, dtype=float))


def reliability_bins(
    y: np.ndarray, score: np.ndarray, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, observed frequency, rows) for each non-empty bin."""
    return CalibrationCounts.of(y, score, n_bins).reliability()


def expected_calibration_error(y: np.ndarray, score: np.ndarray, n_bins: int = 10) -> float:
    return CalibrationCounts.of(y, score, n_bins).ece()
