"""Where chains run: one JAX device per chain when there are enough, else vectorized on one.

On CPU, JAX sees one device unless XLA is told otherwise before JAX initialises;
``configure_host_devices`` does that, so chains run in parallel threads.
"""

from __future__ import annotations

import os
import re

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def configure_host_devices(chains: int) -> None:
    """Ask XLA for ``chains`` CPU devices; effective only before JAX initialises."""
    flags = re.sub(rf"{DEVICE_COUNT_FLAG}=\S+", "", os.environ.get("XLA_FLAGS", "")).split()
    os.environ["XLA_FLAGS"] = " ".join(flags + [f"{DEVICE_COUNT_FLAG}={chains}"])


def chain_method(chains: int) -> str:
    """``parallel`` when JAX has a device per chain, else ``vectorized``."""
    import jax

    return "parallel" if jax.local_device_count() >= chains else "vectorized"
