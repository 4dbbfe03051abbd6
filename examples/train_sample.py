"""Train a small iris classifier (no download: scikit-learn ships the data) and save it.

Writes ``model.joblib`` (a StandardScaler + LogisticRegression Pipeline) and
``sample.npy`` (a few float rows to package and call it with) under ``--out``::

    python examples/train_sample.py --out .maaskit/quickstart
    maaskit package .maaskit/quickstart/model.joblib --name iris --version 1.0.0 \\
        --sample .maaskit/quickstart/sample.npy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    """Train, report held-out accuracy, save the model and a sample."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".maaskit/quickstart"), help="output directory")
    args = parser.parse_args()

    features, target = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, random_state=0, stratify=target
    )
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=1000))])
    model.fit(x_train, y_train)

    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out / "model.joblib")
    np.save(args.out / "sample.npy", x_test[:16].astype(np.float32), allow_pickle=False)
    print(f"held-out accuracy {model.score(x_test, y_test):.3f}; wrote {args.out / 'model.joblib'} and sample.npy")


if __name__ == "__main__":
    main()
