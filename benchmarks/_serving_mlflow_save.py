"""Save a joblib'd scikit-learn model as an MLflow model (runs in benchmarks/.venvs/mlflow only).

    python _serving_mlflow_save.py MODEL.joblib SAMPLE.json OUT_DIR

``SAMPLE.json`` is a pandas ``orient="split"`` frame of a few rows with the feature names; it
gives the model its signature, so ``mlflow models serve`` scores ``dataframe_split`` requests by
column name. Explicit ``pip_requirements`` skip MLflow's requirement inference (slow, and
irrelevant with ``--env-manager local``).
"""

from __future__ import annotations

import json
import sys

import joblib
import mlflow
import mlflow.sklearn
import pandas as pd
import sklearn
from mlflow.models import infer_signature


def untrusted_types(model: object) -> list[str] | None:
    """Types skops (MLflow 3's default sklearn format) refuses to load unless told to trust them.

    The forest's ``sklearn.tree._tree.Tree`` is one; we made the model, so we trust them.
    """
    try:
        import skops.io
    except ImportError:  # an MLflow that still pickles
        return None
    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model))) or None


def main() -> None:
    model_path, sample_path, out_dir = sys.argv[1:4]
    model = joblib.load(model_path)
    with open(sample_path, encoding="utf-8") as fh:
        split = json.load(fh)
    sample = pd.DataFrame(split["data"], columns=split["columns"])
    signature = infer_signature(sample, model.predict(sample))
    mlflow.sklearn.save_model(
        model,
        out_dir,
        signature=signature,
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        skops_trusted_types=untrusted_types(model),
    )
    print(mlflow.__version__)


if __name__ == "__main__":
    main()
