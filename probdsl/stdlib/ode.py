"""The ODE solvers: ``ode(f, y0, t0, ts, args...)`` and its variants.

``f(t, y, args...)`` is a user function (``fun``) returning dy/dt; the result
is Stan's layout, one state vector per output time (``array[T] vector[K]``).
The ``_tol`` forms take ``rtol, atol, max_steps`` after ``ts``, as Stan's
``ode_rk45_tol`` does.  Each solver is a diffrax solver with a PID step-size
controller (see ``probdsl/codegen/ode.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

RTOL, ATOL, MAX_STEPS = 1e-6, 1e-6, 100_000  # Stan's tolerances; Stan allows 10^6 steps


@dataclass(frozen=True)
class OdeSpec:
    name: str
    solver: str  # a diffrax solver class
    controls: bool  # takes rtol, atol, max_steps after ts

    @property
    def fixed_args(self) -> int:
        """Arguments before the function's own: f, y0, t0, ts (and the controls)."""
        return 7 if self.controls else 4

    @property
    def signature(self) -> str:
        controls = ", real rtol, real atol, int max_steps" if self.controls else ""
        return f"array[T] vector[K] {self.name}(f, vector[K] y0, real t0, array[T] real ts{controls}, args...)"


_SPECS = [
    OdeSpec("ode", "Dopri5", False),
    OdeSpec("ode_tol", "Dopri5", True),
    OdeSpec("ode_rk45", "Dopri5", False),
    OdeSpec("ode_rk45_tol", "Dopri5", True),
    OdeSpec("ode_bdf", "Kvaerno5", False),
    OdeSpec("ode_bdf_tol", "Kvaerno5", True),
]

SOLVERS: dict[str, OdeSpec] = {s.name: s for s in _SPECS}


def lookup(name: str) -> OdeSpec | None:
    """The ODE solver called ``name``, or None."""
    return SOLVERS.get(name)
