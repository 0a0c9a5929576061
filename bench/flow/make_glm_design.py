"""Write bench/flow/bernoulli_glm.json: the fixed design of the Bernoulli GLM (100 trials, 9 features)."""

import json
from pathlib import Path

import numpy as np

X = np.random.default_rng(2024).normal(size=(100, 9))
path = Path(__file__).with_name("bernoulli_glm.json")
path.write_text(json.dumps({"N": 100, "K": 9, "X": np.round(X, 6).tolist()}))
