"""AST -> canonical text (``probdsl fmt``).

The inverse of the parser: ``parse(format_program(p)) == p``.  Layout is
canonical (one statement per line, single spaces around binary operators,
four-space loop bodies); comments are kept, attached to the statement they
precede or end the line of.
"""

from __future__ import annotations

from probdsl.syntax import ast

# Binding strength, higher binds tighter (Stan's precedence).
_PRECEDENCE = {
    "?:": 1, "||": 2, "&&": 3, "==": 4, "!=": 4, "<": 5, "<=": 5, ">": 5, ">=": 5,
    "+": 6, "-": 6, "*": 7, "/": 7, "%": 7, "\\": 7, ".*": 7, "./": 7, "%/%": 7,
    "unary": 8, "^": 9, ".^": 9, "postfix": 10, "atom": 11,
}
_RIGHT_ASSOC = {"^", ".^"}


def _prec(e) -> int:
    if isinstance(e, ast.Binary):
        return _PRECEDENCE[e.op]
    if isinstance(e, ast.Conditional):
        return _PRECEDENCE["?:"]
    if isinstance(e, ast.Unary):
        return _PRECEDENCE["unary"]
    if isinstance(e, (ast.Index, ast.Transpose)):
        return _PRECEDENCE["postfix"]
    return _PRECEDENCE["atom"]


def expr(e) -> str:
    """Render an expression with only the parentheses the user wrote."""
    if isinstance(e, ast.Number):
        return e.text
    if isinstance(e, (ast.Variable, ast.FunctionRef)):
        return e.name
    if isinstance(e, ast.Paren):
        return f"({expr(e.expr)})"
    if isinstance(e, ast.Binary):
        return f"{expr(e.left)} {e.op} {expr(e.right)}"
    if isinstance(e, ast.Unary):
        return f"{e.op}{expr(e.operand)}"
    if isinstance(e, ast.Conditional):
        return f"{expr(e.condition)} ? {expr(e.if_true)} : {expr(e.if_false)}"
    if isinstance(e, ast.Call):
        args = [expr(a) for a in e.args]
        if e.conditioned and args:
            return f"{e.name}({args[0]} | {', '.join(args[1:])})"
        return f"{e.name}({', '.join(args)})"
    if isinstance(e, ast.Index):
        return f"{expr(e.base)}[{', '.join(_index(i) for i in e.indices)}]"
    if isinstance(e, ast.Transpose):
        return f"{expr(e.operand)}'"
    if isinstance(e, ast.RowVectorLiteral):
        return f"[{', '.join(expr(i) for i in e.items)}]"
    if isinstance(e, ast.ArrayLiteral):
        return f"{{{', '.join(expr(i) for i in e.items)}}}"
    if isinstance(e, ast.Formula):
        return f"lm({_formula_terms(e.terms, e.signs)})"
    raise TypeError(f"not an expression: {e!r}")


def _formula_terms(terms, signs) -> str:
    text = ""
    for sign, term in zip(signs, terms):
        text += (f" {sign} " if text else sign) + _formula_term(term)
    return text


def _formula_term(t) -> str:
    if isinstance(t, ast.FormulaGroup):
        return f"({_formula_terms(t.terms, t.signs)} {'|' if t.correlated else '||'} {t.group.name})"
    if isinstance(t, ast.FormulaProduct):
        return t.names[0].name + "".join(op + n.name for op, n in zip(t.ops, t.names[1:]))
    return expr(t)


def _index(i) -> str:
    if isinstance(i, ast.Slice):
        lower = expr(i.lower) if i.lower is not None else ""
        upper = expr(i.upper) if i.upper is not None else ""
        return f"{lower}:{upper}"
    return expr(i)


def type_spec(t: ast.TypeSpec) -> str:
    bounds = ""
    if t.bounds:
        bounds = "<" + ", ".join(f"{b.kind}={expr(b.value)}" for b in t.bounds) + ">"
    if t.kind == "factor":
        inner = "factor" + (f"[{expr(t.array_sizes[0])}]" if t.array_sizes else "")
        return inner
    inner = t.kind + bounds
    if t.sizes:
        inner += f"[{', '.join(expr(s) for s in t.sizes)}]"
    if t.array_sizes:
        return f"array[{', '.join(expr(s) for s in t.array_sizes)}] {inner}"
    return inner


def distribution(d: ast.Distribution, trunc: ast.Truncation | None) -> str:
    text = f"{d.name}({', '.join(expr(a) for a in d.args)})"
    if trunc is not None:
        lower = expr(trunc.lower) if trunc.lower is not None else ""
        upper = expr(trunc.upper) if trunc.upper is not None else ""
        text += f" T[{lower}, {upper}]"
    return text


def statement(s, indent: str = "") -> list[str]:
    if isinstance(s, ast.Declaration):
        text = f"{s.role} {type_spec(s.type)} {s.name}"
        if s.prior is not None:
            text += " ~ " + distribution(s.prior, s.truncation)
        return [indent + text + ";"]
    if isinstance(s, ast.Definition):
        prefix = f"{type_spec(s.type)} " if s.type is not None else ""
        return [f"{indent}{prefix}{expr(s.target)} = {expr(s.value)};"]
    if isinstance(s, ast.Tilde):
        censoring = "" if s.censoring is None else \
            f" censored({', '.join(f'{a.kind} = {expr(a.value)}' for a in s.censoring.args)})"
        return [f"{indent}{expr(s.lhs)} ~ {distribution(s.distribution, s.truncation)}{censoring};"]
    if isinstance(s, ast.Target):
        return [f"{indent}target += {expr(s.value)};"]
    if isinstance(s, ast.ForLoop):
        head = f"{indent}for ({s.var} in {expr(s.lower)}:{expr(s.upper)})"
        if not s.braces:
            return [head] + statement(s.body[0], indent + "    ")
        lines = [head + " {"]
        for inner in s.body:
            lines += statement(inner, indent + "    ")
        return lines + [indent + "}"]
    if isinstance(s, ast.FunctionDef):
        head = f"{indent}fun {s.name}({', '.join(s.params)})"
        if not s.block:
            return [f"{head} = {expr(s.value)};"]
        lines = [head + " {"] + [f"{indent}    {expr(d.target)} = {expr(d.value)};" for d in s.locals]
        return lines + [f"{indent}    return {expr(s.value)};", indent + "}"]
    raise TypeError(f"not a statement: {s!r}")


def _line_ranges(stmt, n_lines: int) -> list[tuple[int, int]]:
    """For each printed line of ``stmt``, the source lines it covers: comments inside go with it.

    Only a function block keeps its comments in place; other statements collect them on their last line.
    """
    if isinstance(stmt, ast.FunctionDef) and stmt.block:
        inner = [(d.span.line, d.span.end_line) for d in stmt.locals] + [(stmt.value.span.line,
                                                                           stmt.value.span.end_line)]
        return [(stmt.span.line, stmt.span.line)] + inner + [(stmt.span.end_line, stmt.span.end_line)]
    return [(0, 0)] * (n_lines - 1) + [(0, stmt.span.end_line)]


def format_program(program: ast.Program) -> str:
    """Canonical text of a program, comments kept."""
    comments = sorted(program.comments, key=lambda c: (c.span.line, c.span.column))
    out: list[str] = []
    ci = 0
    previous_end = 0
    for stmt in program.statements:
        # comments before this statement, on their own lines
        while ci < len(comments) and comments[ci].span.line < stmt.span.line:
            c = comments[ci]
            if c.span.line == previous_end and out:
                out[-1] += "  " + c.text
            else:
                if out and c.span.line > previous_end + 1 and previous_end:
                    out.append("")
                out.extend(c.text.splitlines())
            ci += 1
            previous_end = max(previous_end, c.span.end_line)
        if out and previous_end and stmt.span.line > previous_end + 1:
            out.append("")
        lines = statement(stmt)
        # trailing comments on the statement's last line (or inside it)
        previous_end = stmt.span.end_line
        ranges = _line_ranges(stmt, len(lines))
        above: dict[int, list[str]] = {}
        while ci < len(comments) and comments[ci].span.line <= stmt.span.end_line:
            c = comments[ci]
            at = next(k for k, (_, end) in enumerate(ranges) if end >= c.span.line)
            if c.span.line < ranges[at][0]:  # on a line of its own inside a function block
                indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
                above.setdefault(at, []).extend((indent + c.text).splitlines())
            else:
                lines[at] += "  " + c.text
            previous_end = max(previous_end, comments[ci].span.end_line)
            ci += 1
        for k, line in enumerate(lines):
            out.extend(above.get(k, []))
            out.append(line)
    for c in comments[ci:]:
        if c.span.line == previous_end and out:
            out[-1] += "  " + c.text
        else:
            out.extend(c.text.splitlines())
    return "\n".join(out).rstrip() + "\n"
