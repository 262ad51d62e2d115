"""Real datasets bundled in installed packages (no network): arrests (scikit-lego)."""

from __future__ import annotations

import pandas as pd


def arrests() -> pd.DataFrame:
    """5,226 Toronto arrests for marijuana possession (scikit-lego, MIT); target `released`."""
    from sklego.datasets import load_arrests

    df = load_arrests(as_frame=True)
    return pd.DataFrame(df)
