"""Simulate poisson_glm.csv: 100 rows of counts y with exposure and a predictor x (seeded; run once)."""
from pathlib import Path

import numpy as np

rng = np.random.default_rng(11)
n = 100
x = rng.normal(size=n)
exposure = rng.uniform(0.5, 5.0, size=n)            # e.g. person-years observed
alpha, b = 0.3, 0.6
y = rng.poisson(exposure * np.exp(alpha + b * x))

lines = ["x,exposure,y"] + [f"{xi:.4f},{ei:.3f},{yi}" for xi, ei, yi in zip(x, exposure, y)]
Path(__file__).with_name("poisson_glm.csv").write_text("\n".join(lines) + "\n")
