"""Simulate survival.csv: 80 patients, Weibull survival times, follow-up ending at 3 years (seeded; run once)."""
from pathlib import Path

import numpy as np

rng = np.random.default_rng(5)
n = 80
age = np.round(rng.uniform(40, 80, size=n))
alpha, beta0, beta_age = 1.5, 1.2, -0.02
scale = np.exp(beta0 + beta_age * (age - 60))
time = scale * rng.weibull(alpha, size=n)
alive = (time > 3.0).astype(int)  # still alive when the study ended: right-censored at 3 years
time = np.minimum(time, 3.0)

lines = ["age,time,alive"] + [f"{a:.0f},{t:.3f},{c}" for a, t, c in zip(age, time, alive)]
Path(__file__).with_name("survival.csv").write_text("\n".join(lines) + "\n")
