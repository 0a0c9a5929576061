"""Classifier two-sample test (C2ST), as the simulation-based-inference benchmarks report it.

A classifier learns to tell draws ``a`` from draws ``b``; its cross-validated
accuracy is 0.5 when the two sets come from the same distribution and 1.0 when
they are fully separable.  As in sbibm: features standardised by the mean and sd
of ``a``, an MLP with two hidden layers of ``10 * dim`` units, 5-fold
cross-validation, equal numbers of draws from each set.
"""

from __future__ import annotations

import numpy as np

FOLDS = 5
EPOCHS = 300


def c2st(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Mean held-out accuracy of a classifier separating ``a`` from ``b`` (``(draws, dim)`` each)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    a, b = (x.reshape(len(x), -1) for x in (a, b))
    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    a, b = a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]
    mean, sd = a.mean(0), a.std(0) + 1e-12
    x = jnp.asarray((np.concatenate([a, b]) - mean) / sd, jnp.float32)
    y = jnp.concatenate([jnp.zeros(n), jnp.ones(n)])
    order = rng.permutation(2 * n)[: 2 * n - (2 * n) % FOLDS]
    folds = order.reshape(FOLDS, -1)
    train = np.stack([np.concatenate(np.delete(folds, i, axis=0)) for i in range(FOLDS)])
    dim = x.shape[1]
    optimizer = optax.adam(1e-2)

    def train_and_score(key, train, test):
        network = eqx.nn.MLP(dim, 1, 10 * dim, 2, activation=jax.nn.relu, key=key)
        params, static = eqx.partition(network, eqx.is_array)

        def loss(params):
            logits = jax.vmap(eqx.combine(params, static))(x[train])[:, 0]
            return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y[train]))

        def step(carry, _):
            params, state = carry
            updates, state = optimizer.update(jax.grad(loss)(params), state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=EPOCHS)
        logits = jax.vmap(eqx.combine(params, static))(x[test])[:, 0]
        return jnp.mean((logits > 0) == (y[test] > 0.5))

    scores = jax.jit(jax.vmap(train_and_score))(jax.random.split(jax.random.PRNGKey(seed), FOLDS), train, folds)
    return float(np.mean(scores))
