"""A neural coarse level: an MLP emulates the model's expensive definitions (by default each one
that solves an ODE) as a function of the parameters they depend on.

Training data are fine forward solves: first at prior draws, then at draws of the
posterior of the first emulator (posterior adaptation, so the network is accurate
where the chain goes).  Inputs and outputs are standardised; the network (equinox
MLP, optax Adam, full batch) stops when the loss on a held-out fifth stops
improving.  The validation error reported is the held-out RMSE relative to the
outputs' spread, on the posterior-adapted draws.  Every solve spent here counts
among the fit's fine solves.
"""

from __future__ import annotations

import numpy as np

from probdsl.errors import Diagnostic, ModelError
from probdsl.model_interface import DETERMINISTIC, ModelLike

WIDTH, DEPTH = 64, 3
LEARNING_RATE = 3e-3
MAX_EPOCHS, PATIENCE, CHECK_EVERY = 5000, 10, 100
ADAPT_STEPS = 300          # NUTS steps on the first emulator's posterior, per round of adaptation


def neural_level(model: ModelLike, emulate, training: int, seed: int, progress: bool):
    """The model with its ``emulate`` definitions computed by a network trained on ``training`` fine
    solves (half at prior draws, half at posterior draws of the first network)."""
    import jax

    from probdsl.backends.draws import status_printer

    say = status_printer(progress)
    names = _targets(model, emulate)
    inputs = sorted({p for name in names for p in model.param_inputs(name)})
    key = jax.random.PRNGKey(seed)
    prior_key, adapt_key, train_key, retrain_key = jax.random.split(key, 4)
    first = training // 2
    x, y, dropped = _prior_solves(model, names, inputs, prior_key, first)
    say(f"neural surrogate of {', '.join(names)} from {', '.join(inputs)}: {len(x)} prior solves")
    emulator = Emulator.fit(x, y, train_key)
    coarse = model.with_replacements(emulator.replacements(model, names, inputs))
    x2, y2, dropped2 = _posterior_solves(model, coarse, names, inputs, adapt_key, training - first)
    emulator = Emulator.fit(np.concatenate([x, x2]), np.concatenate([y, y2]), retrain_key, validation=(x2, y2))
    say(f"neural surrogate: {len(x2)} more solves at posterior draws; validation error "
        f"{emulator.validation_error:.3g} (RMSE / sd of the outputs)")
    coarse = model.with_replacements(emulator.replacements(model, names, inputs))
    return coarse, {"surrogate": "neural", "emulated": names, "emulator_inputs": inputs,
                    "training_solves": training,
                    "training_failed_solves": dropped + dropped2,
                    "validation_error": emulator.validation_error, "training_epochs": emulator.epochs}


def _targets(model: ModelLike, emulate) -> list[str]:
    deterministic = [s.name for s in model.sites if s.role == DETERMINISTIC]
    if emulate:
        unknown = [n for n in emulate if n not in deterministic]
        if unknown:
            raise ModelError(Diagnostic(
                "E408", f"cannot emulate `{unknown[0]}`: it is not a definition computed from the parameters",
                hint=f"emulate one of: {', '.join(deterministic) or '(the model has none)'}"))
        return list(emulate)
    found = model.ode_definitions()
    if not found:
        hint = (f"pass --emulate NAME (one of: {', '.join(deterministic)})" if deterministic else
                "the model has no definitions computed from the parameters to emulate: fit it with NUTS")
        raise ModelError(Diagnostic(
            "E408", f"`{model.name}` solves no ODE: say which definitions the network should emulate", hint=hint))
    return found


def _flatten(values: dict, names: list[str], count: int) -> np.ndarray:
    return np.concatenate([np.asarray(values[n], dtype=np.float64).reshape(count, -1) for n in names], axis=1)


def _keep_finite(x: np.ndarray, y: np.ndarray):
    good = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    return x[good], y[good], int((~good).sum())


def _prior_solves(model, names, inputs, key, count):
    draws = model.sample_prior(key, count)
    return _keep_finite(_flatten(draws, inputs, count), _flatten(draws, names, count))


def _posterior_solves(model, coarse, names, inputs, key, count):
    """Fine solves of ``names`` at ``count`` draws of the posterior of ``coarse`` (one NUTS chain)."""
    import blackjax
    import jax
    from numpyro.infer import Predictive

    from probdsl.backends.vi.flat import FlatDensity

    density = FlatDensity(coarse)
    init_key, warm_key, run_key, solve_key = jax.random.split(key, 4)
    start = jax.random.uniform(init_key, (density.dim,), minval=-2.0, maxval=2.0)
    (state, parameters), _ = blackjax.window_adaptation(blackjax.nuts, density).run(warm_key, start, ADAPT_STEPS)
    kernel = blackjax.nuts(density, **parameters)
    thin = max(ADAPT_STEPS // max(count, 1), 1)

    def one(state, step_key):
        state, _ = kernel.step(step_key, state)
        return state, state.position

    _, positions = jax.lax.scan(one, state, jax.random.split(run_key, count * thin))
    positions = positions[::thin][:count]
    params = jax.vmap(lambda theta: model.constrain(density.unravel(theta)))(positions)
    solved = Predictive(model.numpyro_model, posterior_samples=params, return_sites=names)(solve_key, model.data)
    values = {**{k: np.asarray(v) for k, v in params.items()}, **{k: np.asarray(v) for k, v in solved.items()}}
    return _keep_finite(_flatten(values, inputs, count), _flatten(values, names, count))


class Emulator:
    """A standardised MLP from the flattened inputs to the flattened outputs."""

    def __init__(self, network, x_mean, x_sd, y_mean, y_sd, validation_error: float, epochs: int):
        self.network = network
        self.x_mean, self.x_sd, self.y_mean, self.y_sd = x_mean, x_sd, y_mean, y_sd
        self.validation_error, self.epochs = validation_error, epochs

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, key, validation=None) -> "Emulator":
        """Train on ``(x, y)``; the held-out set is ``validation``'s last fifth (default: ``x``'s)."""
        import equinox as eqx
        import jax
        import jax.numpy as jnp
        import optax

        if len(x) < 10:
            raise ModelError(Diagnostic(
                "E408", f"only {len(x)} forward solves were finite: too few to train a neural surrogate",
                hint="check that the prior gives solvable systems, or raise --training"))
        held_x, held_y = validation if validation is not None else (x, y)
        cut = len(held_x) - max(len(held_x) // 5, 2)
        held = {tuple(row) for row in held_x[cut:]}
        train = np.array([tuple(row) not in held for row in x])
        x_mean, x_sd = x.mean(0), x.std(0) + 1e-8
        y_mean, y_sd = y.mean(0), y.std(0) + 1e-8
        xs = jnp.asarray((x - x_mean) / x_sd, jnp.float32)
        ys = jnp.asarray((y - y_mean) / y_sd, jnp.float32)
        xt, yt, xv, yv = xs[train], ys[train], xs[~train], ys[~train]
        network = eqx.nn.MLP(x.shape[1], y.shape[1], WIDTH, DEPTH, activation=jax.nn.gelu, key=key)
        optimizer = optax.adam(LEARNING_RATE)
        params, static = eqx.partition(network, eqx.is_array)

        def loss(params, xb, yb):
            predict = jax.vmap(eqx.combine(params, static))
            return jnp.mean((predict(xb) - yb) ** 2)

        @jax.jit
        def epochs(params, state):
            def one(carry, _):
                params, state = carry
                grads = jax.grad(loss)(params, xt, yt)
                updates, state = optimizer.update(grads, state, params)
                return (optax.apply_updates(params, updates), state), None

            (params, state), _ = jax.lax.scan(one, (params, state), None, length=CHECK_EVERY)
            return params, state, loss(params, xv, yv)

        state = optimizer.init(params)
        best, best_loss, since, done = params, np.inf, 0, 0
        while done < MAX_EPOCHS and since < PATIENCE:
            params, state, validation_loss = epochs(params, state)
            done += CHECK_EVERY
            if float(validation_loss) < best_loss:
                best, best_loss, since = params, float(validation_loss), 0
            else:
                since += 1
        return cls(eqx.combine(best, static), x_mean, x_sd, y_mean, y_sd, float(np.sqrt(best_loss)), done)

    def predict(self, x):
        """The flattened outputs at one flattened input vector ``x``."""
        import jax.numpy as jnp

        z = (x - self.x_mean) / self.x_sd
        return self.network(z.astype(jnp.float32)) * self.y_sd + self.y_mean

    def replacements(self, model: ModelLike, names: list[str], inputs: list[str]) -> dict:
        """``{name: f(env)}`` for ``with_replacements``: every emulated definition from one network call."""
        import jax.numpy as jnp

        shapes = {n: model.site(n).shape for n in names}
        sizes = [int(np.prod(shapes[n], dtype=int)) for n in names]
        offsets = np.cumsum([0] + sizes)

        def value(name):
            i = names.index(name)

            def compute(env):
                x = jnp.concatenate([jnp.ravel(jnp.asarray(env[p])) for p in inputs])
                return self.predict(x)[offsets[i]:offsets[i + 1]].reshape(shapes[name])

            return compute

        return {n: value(n) for n in names}
