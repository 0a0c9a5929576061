"""Which ``.pdl`` statement makes the log density non-finite (for failed initialisation)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from probdsl.model_interface import OBSERVED, PARAM


def first_nonfinite(model, params: dict) -> str | None:
    """Run the model at ``params`` and name the first site whose log density is not finite."""
    try:
        trace = handlers.trace(handlers.substitute(handlers.seed(model.numpyro_model, 0), data=params)).get_trace(
            model.data)
    except Exception as error:  # noqa: BLE001 - reported to the user as the cause
        return f"the model could not be evaluated: {error}"
    spans = {s.name: s.span for s in model.sites if s.role in (PARAM, OBSERVED)}
    terms = {t.site: t for t in model.checked.resolved.terms}
    for name, site in trace.items():
        if site["type"] == "sample":
            value = site["value"]
            log_prob = site["fn"].log_prob(value)
        elif site["type"] == "deterministic":
            value, log_prob = site["value"], jnp.zeros(())
        else:
            continue
        bad_value = not np.all(np.isfinite(np.asarray(value, dtype=float)))
        bad_density = not np.all(np.isfinite(np.asarray(log_prob)))
        if bad_value or bad_density:
            clean = name.removesuffix("__u")
            term = terms.get(clean)
            span = term.span if term is not None else spans.get(clean)
            where = f"{span}: " if span is not None else ""
            what = "value" if bad_value else "log density"
            return f"{where}non-finite {what} at `{clean}`" + (
                f" ({model.source.splitlines()[span.line - 1].strip()})" if span is not None else "")
    return None
