"""Simulate radon.csv: log radon in homes of 12 Minnesota-like counties (seeded; run once)."""
from pathlib import Path

import numpy as np

rng = np.random.default_rng(20240611)
counties = ["Aitkin", "Anoka", "Becker", "Beltrami", "Benton", "Blue Earth",
            "Brown", "Carlton", "Carver", "Cass", "Chisago", "Clay"]
mu_a, sigma_a, b, sigma_y = 1.4, 0.35, -0.65, 0.75
a = rng.normal(mu_a, sigma_a, len(counties))
weights = rng.dirichlet(np.full(len(counties), 2.0))       # unequal county sample sizes
county = rng.choice(len(counties), size=200, p=weights)
floor = rng.binomial(1, 0.3, size=200)                      # 1 = measured on the first floor
log_radon = rng.normal(a[county] + b * floor, sigma_y)

lines = ["county,floor,log_radon"]
lines += [f"{counties[c]},{f},{y:.4f}" for c, f, y in zip(county, floor, log_radon)]
Path(__file__).with_name("radon.csv").write_text("\n".join(lines) + "\n")
