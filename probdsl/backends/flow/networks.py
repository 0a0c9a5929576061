"""The networks of a flow: a conditioning network that summarises the data, and the vector field.

``v(t, theta_t, c)`` is a residual MLP (the FMPE recipe) on the current point, a
Fourier embedding of the time and the context ``c``.  The context is computed
once per dataset:

* ``mlp``: an MLP on the flattened observations (data of one fixed size);
* ``transformer``: an encoder over one token per row (the row's covariates and
  observations), with padding masked, pooled by the mean and the (scaled) sum over
  the real rows and their count, so the network takes any number of rows up to its
  maximum and, without positional features, is invariant to permuting them
  (Sherki, Oseledets, Muravleva 2025).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import equinox as eqx
import jax
import jax.numpy as jnp

FREQUENCIES = 4  # time features: t, sin(k pi t), cos(k pi t) for k = 1..FREQUENCIES


@dataclass(frozen=True)
class Architecture:
    kind: str            # "mlp" or "transformer"
    theta_dim: int
    input_dim: int       # mlp: the flattened observations; transformer: the features of one token
    width: int = 128     # the vector field's hidden width
    depth: int = 4       # its residual blocks
    context: int = 64    # the size of the data summary; also the transformer's token width
    heads: int = 4       # transformer only
    layers: int = 2      # transformer only: encoder blocks

    def to_json(self) -> dict:
        return asdict(self)


def time_features(t):
    k = jnp.arange(1, FREQUENCIES + 1) * jnp.pi
    return jnp.concatenate([jnp.atleast_1d(t), jnp.sin(k * t), jnp.cos(k * t)])


class ResidualBlock(eqx.Module):
    norm: eqx.nn.LayerNorm
    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, width: int, key):
        a, b = jax.random.split(key)
        self.norm = eqx.nn.LayerNorm(width)
        self.first = eqx.nn.Linear(width, width, key=a)
        self.second = eqx.nn.Linear(width, width, key=b)

    def __call__(self, h):
        return h + self.second(jax.nn.gelu(self.first(self.norm(h))))


class VectorField(eqx.Module):
    """``field(t, theta, context) -> velocity`` for one point (vmap it over points)."""

    into: eqx.nn.Linear
    blocks: tuple
    out: eqx.nn.Linear

    def __init__(self, arch: Architecture, key):
        keys = jax.random.split(key, arch.depth + 2)
        self.into = eqx.nn.Linear(arch.theta_dim + 1 + 2 * FREQUENCIES + arch.context, arch.width, key=keys[0])
        self.blocks = tuple(ResidualBlock(arch.width, k) for k in keys[1:-1])
        self.out = eqx.nn.Linear(arch.width, arch.theta_dim, key=keys[-1])

    def __call__(self, t, theta, context):
        h = self.into(jnp.concatenate([theta, time_features(t), context]))
        for block in self.blocks:
            h = block(h)
        return self.out(jax.nn.gelu(h))


class ObservationEncoder(eqx.Module):
    """``encode(x) -> context`` for data of a fixed layout (``x`` flattened, standardised)."""

    mlp: eqx.nn.MLP

    def __init__(self, arch: Architecture, key):
        self.mlp = eqx.nn.MLP(arch.input_dim, arch.context, arch.width, 2, activation=jax.nn.gelu, key=key)

    def __call__(self, x, mask=None):
        return self.mlp(x)


class EncoderBlock(eqx.Module):
    norm1: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    norm2: eqx.nn.LayerNorm
    mlp: eqx.nn.MLP

    def __init__(self, arch: Architecture, key):
        a, b = jax.random.split(key)
        width = arch.context
        self.norm1 = eqx.nn.LayerNorm(width)
        self.attention = eqx.nn.MultiheadAttention(arch.heads, width, key=a)
        self.norm2 = eqx.nn.LayerNorm(width)
        self.mlp = eqx.nn.MLP(width, width, 2 * width, 1, activation=jax.nn.gelu, key=b)

    def __call__(self, h, mask):
        normed = jax.vmap(self.norm1)(h)
        h = h + self.attention(normed, normed, normed, mask=mask[None, :] & mask[:, None])
        return h + jax.vmap(self.mlp)(jax.vmap(self.norm2)(h))


class TokenEncoder(eqx.Module):
    """``encode(tokens, mask) -> context``: tokens ``(rows, features)``, ``mask`` True for real rows."""

    embed: eqx.nn.Linear
    blocks: tuple
    out: eqx.nn.Linear

    def __init__(self, arch: Architecture, key):
        keys = jax.random.split(key, arch.layers + 2)
        self.embed = eqx.nn.Linear(arch.input_dim, arch.context, key=keys[0])
        self.blocks = tuple(EncoderBlock(arch, k) for k in keys[1:-1])
        self.out = eqx.nn.Linear(2 * arch.context + 1, arch.context, key=keys[-1])

    def __call__(self, tokens, mask):
        h = jax.vmap(self.embed)(tokens)
        for block in self.blocks:
            h = block(h, mask)
        h = h * mask[:, None]
        count = mask.sum(keepdims=True).astype(h.dtype)
        total = jnp.sum(h, axis=0)  # sums carry the evidence of every row (sufficient statistics are sums)
        return self.out(jnp.concatenate([total / jnp.maximum(count, 1), total / mask.size, jnp.log1p(count)]))


class Flow(eqx.Module):
    """The trained pair: an encoder of the data and the vector field it conditions."""

    encoder: eqx.Module
    field: VectorField

    def __init__(self, arch: Architecture, key):
        a, b = jax.random.split(key)
        self.encoder = (TokenEncoder if arch.kind == "transformer" else ObservationEncoder)(arch, a)
        self.field = VectorField(arch, b)


def build(arch: Architecture, seed: int = 0) -> Flow:
    return Flow(arch, jax.random.PRNGKey(seed))
