"""Simulate logistic_regression.csv: 150 rows, predictors X.1, X.2, binary y (seeded; run once)."""
from pathlib import Path

import numpy as np

rng = np.random.default_rng(7)
n = 150
X = rng.normal(size=(n, 2))
alpha, b = -0.5, np.array([1.2, -0.8])
y = rng.binomial(1, 1 / (1 + np.exp(-(alpha + X @ b))))

lines = ["X.1,X.2,y"] + [f"{x1:.4f},{x2:.4f},{yi}" for (x1, x2), yi in zip(X, y)]
Path(__file__).with_name("logistic_regression.csv").write_text("\n".join(lines) + "\n")
