"""Diagnostics: located errors with a source excerpt and a caret line.

Every error a user can cause is a :class:`ProbdslError`.  It carries one or
more :class:`Diagnostic` values; ``str(error)`` renders them, one per block,
each beginning with ``file:line:col:`` as compilers do::

    model.pdl:9:20: error[E201]: size mismatch in `normal(theta, sigma)`
       9 | y ~ normal(theta, sigma);
         |                   ^^^^^ sigma has 7 rows in data.csv
       = hint: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    label: str = ""  # text after the carets
    notes: tuple[str, ...] = ()
    hint: str | None = None
    severity: str = "error"

    def render(self, sources: dict[str, str] | None = None) -> str:
        head = f"{self.severity}[{self.code}]: {self.message}"
        lines = [f"{self.span}: {head}" if self.span else head]
        text = (sources or {}).get(self.span.file) if self.span else None
        if text is not None:
            lines.extend(_excerpt(text, self.span, self.label))
        elif self.label:
            lines.append(f"     = {self.label}")
        lines.extend(f"     = note: {n}" for n in self.notes)
        if self.hint:
            lines.append(f"     = hint: {self.hint}")
        return "\n".join(lines)


def _excerpt(text: str, span: Span, label: str) -> list[str]:
    source_lines = text.splitlines()
    if not 1 <= span.line <= len(source_lines):
        return [f"     = {label}"] if label else []
    line = source_lines[span.line - 1].expandtabs(1)
    gutter = str(span.line)
    pad = " " * len(gutter)
    end = span.end_column if span.end_line == span.line else len(line) + 1
    width = max(1, end - span.column)
    carets = " " * (span.column - 1) + "^" * width
    out = [f" {gutter} | {line}", f" {pad} | {carets}" + (f" {label}" if label else "")]
    return out


class ProbdslError(Exception):
    """Base class of every error a user can cause (bad model, bad data, bad options)."""

    exit_code = 1

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str, sources: dict[str, str] | None = None):
        if isinstance(diagnostics, str):
            diagnostics = Diagnostic("E000", diagnostics)
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.sources: dict[str, str] = dict(sources or {})
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.sources) for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render()

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]


class SyntaxErrorPdl(ProbdslError):
    """The model text does not parse."""


class ModelError(ProbdslError):
    """The model parses but is not a valid model (names, types, sizes, roles)."""


class DataError(ProbdslError):
    """A data file is malformed or does not fit the model's declarations."""


class RuntimeModelError(ProbdslError):
    """The model failed while running (non-finite density at initialisation, ...)."""


class UsageError(ProbdslError):
    """Bad options or arguments (CLI exit code 2)."""

    exit_code = 2


@dataclass
class DiagnosticBag:
    """Collects diagnostics of one stage so all of them are reported at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span | None = None, **kw) -> None:
        self.items.append(Diagnostic(code, message, span, **kw))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, cls: type[ProbdslError], sources: dict[str, str]) -> None:
        if self.items:
            items = sorted(self.items, key=lambda d: (d.span.file, d.span.line, d.span.column) if d.span else ("", 0, 0))
            raise cls(items, sources)
