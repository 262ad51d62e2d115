"""The project the feedback, quality and review-queue tests share (see feedback_support)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from modelyard.registry.registry import ModelVersion, Registry
from tests.monitoring.feedback_support import arrests_project


@pytest.fixture
def arrests(
    tmp_path: Path, store_url: str
) -> Iterator[tuple[Registry, ModelVersion, pd.DataFrame]]:
    """(registry, the logistic arrests model, the evaluation rows) in a fresh project on the
    store under test; review threshold 0.6."""
    reg, mv, ev = arrests_project(tmp_path / "p", store_url)
    yield reg, mv, ev
    reg.close()
