"""Sized types of the language.

A value's type is Stan's: an element type (``int``, ``real``, ``vector``,
``row_vector``, ``matrix``) inside zero or more array dimensions.  Every
dimension is a :class:`Size`: the name it was declared with (``N``, a factor
name, ...) and, once data are bound, its value.  Two sizes are known to differ
only when both values are known; symbolic sizes are compared by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INT, REAL = "int", "real"
SCALAR, VECTOR, ROW_VECTOR, MATRIX = "scalar", "vector", "row_vector", "matrix"


@dataclass(frozen=True)
class Size:
    """One dimension: a symbolic name, a known value, or both."""

    name: str | None = None
    value: int | None = None
    # Where the size was bound from, for messages ("length of y in data.csv").
    origin: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.name and self.value is not None:
            return f"{self.name} = {self.value}"
        if self.name:
            return self.name
        return "?" if self.value is None else str(self.value)

    @property
    def label(self) -> str:
        """How the size is written in a type (``N``, or ``8`` for a literal)."""
        if self.name:
            return self.name
        return "?" if self.value is None else str(self.value)


UNKNOWN = Size()


def sizes_conflict(a: Size, b: Size) -> bool:
    """True when two sizes are known to be different."""
    if a.value is not None and b.value is not None:
        return a.value != b.value
    return False


def literal(n: int) -> Size:
    return Size(None, n)


@dataclass(frozen=True)
class Type:
    """A sized type: ``array[*array_dims]`` of ``base`` ``kind``.

    ``base`` is ``int`` or ``real``; ``kind`` is scalar, vector, row_vector
    or matrix (vectors and matrices are always real).  ``elem_dims`` has
    0, 1 or 2 sizes matching ``kind``.
    """

    base: str
    kind: str = SCALAR
    array_dims: tuple[Size, ...] = ()
    elem_dims: tuple[Size, ...] = ()

    @property
    def dims(self) -> tuple[Size, ...]:
        """All dimensions, outermost first (the JAX array shape)."""
        return self.array_dims + self.elem_dims

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def is_scalar(self) -> bool:
        return self.kind == SCALAR and not self.array_dims

    @property
    def is_int(self) -> bool:
        return self.base == INT

    def element(self) -> "Type":
        """The type with the array dimensions dropped."""
        return Type(self.base, self.kind, (), self.elem_dims)

    def with_array_dims(self, dims: tuple[Size, ...]) -> "Type":
        return Type(self.base, self.kind, tuple(dims), self.elem_dims)

    def to_real(self) -> "Type":
        return Type(REAL, self.kind, self.array_dims, self.elem_dims)

    def shape(self) -> tuple[int | None, ...]:
        return tuple(d.value for d in self.dims)

    def __str__(self) -> str:
        if self.kind == SCALAR:
            inner = self.base
        elif self.kind == MATRIX:
            inner = f"matrix[{self.elem_dims[0].label}, {self.elem_dims[1].label}]"
        else:
            inner = f"{self.kind}[{self.elem_dims[0].label}]"
        if self.array_dims:
            return f"array[{', '.join(d.label for d in self.array_dims)}] {inner}"
        return inner


def scalar(base: str = REAL) -> Type:
    return Type(base, SCALAR)


def vector(n: Size) -> Type:
    return Type(REAL, VECTOR, (), (n,))


def row_vector(n: Size) -> Type:
    return Type(REAL, ROW_VECTOR, (), (n,))


def matrix(m: Size, n: Size) -> Type:
    return Type(REAL, MATRIX, (), (m, n))


def array(elem: Type, *dims: Size) -> Type:
    return Type(elem.base, elem.kind, tuple(dims) + elem.array_dims, elem.elem_dims)


INT_T = scalar(INT)
REAL_T = scalar(REAL)
