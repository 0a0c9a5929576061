"""Text -> AST: the Lark LALR parser, the tree-to-AST transformer, syntax errors.

Syntax errors are reported in the modeller's words ("expected `;` at the end
of the statement") with ``file:line:col`` and a caret, never Lark's terminal
names.  Comments are collected with their positions so ``fmt`` can keep them.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from probdsl import user_cache
from probdsl.errors import Diagnostic, Span, SyntaxErrorPdl
from probdsl.stdlib import ode
from probdsl.syntax import ast

BOUND_KINDS = ("lower", "upper", "offset", "multiplier")
MAX_INT_DIGITS = 1000  # an integer literal longer than this is an error (sizes need 20 digits at most)
MAX_NESTING = 200  # deeper expressions are refused before Python's recursion limit is near

_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "SEMICOLON": "`;`",
    "COMMA": "`,`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "EQUAL": "`=`",
    "TILDE": "`~`",
    "ROLE": "`data` or `param`",
    "SCALAR_TYPE": "a type (`int`, `real`)",
    "SIZED_TYPE": "a type (`vector`, `matrix`, ...)",
    "LT": "`<`",
    "GT": "`>`",
    "COLON": "`:`",
    "RANGE_COLON": "`:`",
    "QMARK": "`?`",
    "ADD_OP": "an operator",
    "UNARY_OP": "`-`",
    "AND": "`&&`",
    "OR": "`||`",
    "TRANSPOSE": "`'`",
    "POW_OP": "`^`",
    "EQ_OP": "`==`",
    "LE": "`<=`",
    "GE": "`>=`",
    "CONDITION_BAR": "`|`",
    "MUL_OP": "an operator",
    "CMP_OP": "an operator",
    "$END": "end of file",
}


def grammar_path() -> Path:
    """The grammar file: inside the package when installed from a wheel, else the repo's ``grammar/``."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "grammar" / "pdl.lark", here.parent / "grammar" / "pdl.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("probdsl grammar file pdl.lark not found; the installation is broken")


class _CommentCollector:
    def __init__(self):
        self.comments: list[Token] = []

    def __call__(self, token: Token) -> Token:
        self.comments.append(token)
        return token


def _tables_cache() -> str | bool:
    """Where Lark keeps the parser tables it builds from the grammar (0.3 s to build, 10 ms to load),
    keyed by a hash of the grammar and Lark's version; False when the user cache is off or unwritable."""
    if user_cache.turned_off():
        return False
    try:
        directory = user_cache.writable_directory(user_cache.cache_root() / "grammar")
    except OSError:
        return False
    return str(directory / f"pdl-lark-{lark.__version__}.tables")


@lru_cache(maxsize=1)
def _parser_and_collector() -> tuple[Lark, _CommentCollector]:
    collector = _CommentCollector()
    parser = Lark(
        grammar_path().read_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": collector},
        cache=_tables_cache(),
    )
    return parser, collector


def parse(text: str, file: str = "<string>") -> ast.Program:
    """Parse model text into a :class:`~probdsl.syntax.ast.Program` or raise :class:`SyntaxErrorPdl`."""
    text = text.removeprefix("\ufeff")  # the byte-order mark some editors write
    _check_characters(text, file)
    parser, collector = _parser_and_collector()
    collector.comments.clear()
    try:
        tree = parser.parse(text)
        program = _ToAst(file).transform(tree)
    except UnexpectedInput as error:
        raise SyntaxErrorPdl(_syntax_diagnostic(error, text, file), {file: text}) from None
    except VisitError as error:
        if isinstance(error.orig_exc, SyntaxErrorPdl):
            raise SyntaxErrorPdl(error.orig_exc.diagnostics, {file: text}) from None
        if not isinstance(error.orig_exc, RecursionError):
            raise
        raise _too_deep(text, file) from None
    except RecursionError:
        raise _too_deep(text, file) from None
    comments = tuple(ast.Comment(t.value, _token_span(t, file)) for t in collector.comments)
    collector.comments.clear()
    return ast.Program(program.statements, file, comments)


def _too_deep(text: str, file: str) -> SyntaxErrorPdl:
    return SyntaxErrorPdl(
        Diagnostic("E003", "the model is nested too deeply to parse", Span(file, 1, 1, 1, 2)), {file: text})


def _check_characters(text: str, file: str) -> None:
    depth = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        for col, ch in enumerate(line, 1):
            if ch in "([{":
                depth += 1
                if depth > MAX_NESTING:
                    span = Span(file, line_no, col, line_no, col + 1)
                    raise SyntaxErrorPdl(
                        Diagnostic("E003", f"brackets nested more than {MAX_NESTING} deep", span), {file: text}
                    )
            elif ch in ")]}":
                depth = max(0, depth - 1)
    if depth == 0 and sys.getrecursionlimit() < 4 * MAX_NESTING + 1000:
        sys.setrecursionlimit(4 * MAX_NESTING + 1000)


def _token_span(token: Token, file: str) -> Span:
    return Span(file, token.line, token.column, token.end_line or token.line, token.end_column or token.column + 1)


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return f"`{token.value}`"


def _expected_words(expected: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, f"`{_literal(t)}`") for t in expected})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _literal(terminal: str) -> str:
    parser, _ = _parser_and_collector()
    for term in parser.terminals:
        if term.name == terminal:
            pattern = term.pattern.value
            return pattern if term.pattern.type == "str" else terminal.lower()
    return terminal.lower()


def _syntax_diagnostic(error: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        line, col = error.line, error.column
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        return Diagnostic(
            "E001",
            f"unexpected character `{char}`",
            Span(file, line, col, line, col + 1),
            hint="names start with a letter and contain letters, digits and `_`; comments are `//` or `/* */`",
        )
    if isinstance(error, UnexpectedEOF):
        lines = text.splitlines() or [""]
        span = Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        return Diagnostic("E002", "unexpected end of file: the last statement is incomplete", span)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    expected = set(error.expected)
    previous = (error.token_history or [None])[-1]
    if "SEMICOLON" in expected and previous is not None and (token.type == "$END" or token.line > previous.end_line):
        span = Span(file, previous.end_line, previous.end_column, previous.end_line, previous.end_column + 1)
        return Diagnostic("E002", "expected `;` at the end of the statement", span, hint="every statement ends with `;`")
    if token.type == "$END":
        lines = text.splitlines() or [""]
        span = Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        return Diagnostic("E002", f"unexpected end of file; expected {_expected_words(expected)}", span)
    span = _token_span(token, file)
    wanted = "a statement (a declaration, a definition, `~`, `target +=` or `for`)" if "ROLE" in expected else _expected_words(expected)
    message = f"unexpected {_describe(token)}; expected {wanted}"
    hint = None
    if previous is not None and previous.type == "NAME" and previous.value in ("if", "while", "else", "return", "print"):
        hint = f"there is no `{previous.value}` statement: a model is a set of definitions; use `c ? a : b` for a conditional value"
    elif previous is not None and previous.type in ("SCALAR_TYPE", "SIZED_TYPE", "RSQB", "GT") and "EQUAL" in expected:
        hint = "declare inputs with `data` and unknowns with `param`; a derived name needs `= expression`"
    if previous is not None and previous.type == "LM":
        hint = "`lm` is the formula keyword (`mu = lm(1 + x + (1 | g));`) and cannot name a variable"
    elif expected == {"RPAR"} and token.value in ("/", ":"):
        hint = ("a group term has one grouping factor, `(1 | g)`; for nested or crossed groups (`a/b`, `a:b`), "
                "make a factor of the combinations in the data")
    if token.type in ("SCALAR_TYPE", "SIZED_TYPE") and previous is not None and previous.type == "NAME":
        hint = "declarations start with `data` or `param`, e.g. `data vector[N] y;`"
    elif token.type == "EQUAL" and "EQ_OP" in expected:
        hint = "use `==` to compare"
    return Diagnostic("E002", message, span, hint=hint)


def _span_of(meta, file: str) -> Span:
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    """Builds AST nodes from Lark's parse tree, keeping a span on each."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _s(self, meta) -> Span:
        return _span_of(meta, self.file)

    # statements
    def start(self, meta, children):
        return ast.Program(tuple(children), self.file)

    def declaration(self, meta, children):
        role, type_spec, name, *rest = children
        prior = next((c for c in rest if isinstance(c, ast.Distribution)), None)
        truncation = next((c for c in rest if isinstance(c, ast.Truncation)), None)
        return ast.Declaration(
            str(role), type_spec, str(name), prior, truncation, self._s(meta), _token_span(name, self.file)
        )

    def definition(self, meta, children):
        target, value = children
        inner = target.expr if isinstance(target, ast.Paren) else target
        ok = isinstance(inner, ast.Variable) or (isinstance(inner, ast.Index) and isinstance(inner.base, ast.Variable))
        if not ok or isinstance(target, ast.Paren):
            raise SyntaxErrorPdl(
                Diagnostic(
                    "E004",
                    "the left of `=` must be a name (`mu = ...`) or an indexed name (`mu[n] = ...`)",
                    target.span,
                    hint="to add a density term use `target += ...`; to give a distribution use `~`",
                )
            )
        return ast.Definition(target, value, None, self._s(meta))

    def typed_definition(self, meta, children):
        type_spec, name, value = children
        return ast.Definition(ast.Variable(str(name), _token_span(name, self.file)), value, type_spec, self._s(meta))

    def tilde(self, meta, children):
        lhs, distribution, truncation, censoring = children
        return ast.Tilde(lhs, distribution, truncation, self._s(meta), censoring)

    def target(self, meta, children):
        return ast.Target(children[0], self._s(meta))

    def for_loop(self, meta, children):
        var, lower, upper, body = children
        braces = isinstance(body, list)
        statements = tuple(body) if braces else (body,)
        return ast.ForLoop(str(var), lower, upper, statements, braces, self._s(meta))

    def block(self, meta, children):
        return list(children)

    def function_def(self, meta, children):
        name, *rest = children
        body = rest.pop()
        params = tuple(str(p) for p in rest if p is not None)
        locals_, value = body if isinstance(body, tuple) else ((), body)
        return ast.FunctionDef(str(name), params, locals_, value, isinstance(body, tuple), self._s(meta),
                               _token_span(name, self.file))

    def function_block(self, meta, children):
        *locals_, value = children
        return tuple(locals_), value

    def local_definition(self, meta, children):
        name, value = children
        return ast.Definition(ast.Variable(str(name), _token_span(name, self.file)), value, None, self._s(meta))

    def distribution(self, meta, children):
        name, *args = children
        args = tuple(a for a in args if a is not None)
        return ast.Distribution(str(name), args, self._s(meta))

    def truncation(self, meta, children):
        lower, upper = children
        return ast.Truncation(lower, upper, self._s(meta))

    def censoring(self, meta, children):
        return ast.Censoring(tuple(children), self._s(meta))

    def censor_arg(self, meta, children):
        kind, value = children
        return ast.CensorArg(str(kind), value, self._s(meta))

    # types
    def type_spec(self, meta, children):
        return children[0]

    def array_type(self, meta, children):
        *sizes, element = children
        return ast.TypeSpec(element.kind, element.sizes, tuple(sizes), element.bounds, self._s(meta))

    def scalar_type(self, meta, children):
        kind, constraint = children
        return ast.TypeSpec(str(kind), (), (), constraint or (), self._s(meta))

    def sized_type(self, meta, children):
        kind, constraint, *sizes = children
        return ast.TypeSpec(str(kind), tuple(sizes), (), constraint or (), self._s(meta))

    def factor_type(self, meta, children):
        (rows,) = children
        return ast.TypeSpec("factor", (), (rows,) if rows is not None else (), (), self._s(meta))

    def constraint(self, meta, children):
        bounds = tuple(c for c in children if isinstance(c, ast.Bound))
        seen = set()
        for b in bounds:
            if b.kind in seen:
                raise SyntaxErrorPdl(Diagnostic("E005", f"`{b.kind}` is given twice", b.span))
            seen.add(b.kind)
        kinds = {b.kind for b in bounds}
        if kinds & {"lower", "upper"} and kinds & {"offset", "multiplier"}:
            raise SyntaxErrorPdl(
                Diagnostic("E005", "bounds (`lower`, `upper`) and `offset`/`multiplier` cannot be combined", bounds[0].span)
            )
        return bounds

    def bound(self, meta, children):
        name, value = children
        if str(name) not in BOUND_KINDS:
            raise SyntaxErrorPdl(
                Diagnostic(
                    "E005",
                    f"unknown constraint `{name}`",
                    _token_span(name, self.file),
                    hint="constraints are `lower=`, `upper=`, `offset=` and `multiplier=`",
                )
            )
        return ast.Bound(str(name), value, self._s(meta))

    # expressions
    def number(self, meta, children):
        text = str(children[0])
        is_int = all(c.isdigit() for c in text)
        if is_int and len(text) > MAX_INT_DIGITS:  # Python refuses to convert it; far past any size anyway
            raise SyntaxErrorPdl(Diagnostic("E168", f"the integer `{text[:20]}...` ({len(text)} digits) is too large",
                                            self._s(meta), hint="write a real number instead (`1e30`)"))
        return ast.Number(int(text) if is_int else float(text), text, self._s(meta))

    def variable(self, meta, children):
        return ast.Variable(str(children[0]), self._s(meta))

    def call(self, meta, children):
        name, *args = children
        args = [a for a in args if a is not None]
        conditioned = any(isinstance(a, Token) and a.type == "CONDITION_BAR" for a in args)
        args = tuple(a for a in args if not isinstance(a, Token))
        if ode.lookup(str(name)) and args and isinstance(args[0], ast.Variable):  # ode(f, ...) names a function
            args = (ast.FunctionRef(args[0].name, args[0].span),) + args[1:]
        return ast.Call(str(name), args, conditioned, self._s(meta))

    def paren(self, meta, children):
        return ast.Paren(children[0], self._s(meta))

    def conditional(self, meta, children):
        return ast.Conditional(*children, span=self._s(meta))

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, self._s(meta))

    def unary(self, meta, children):
        op, operand = children
        if str(op) == "-" and isinstance(operand, ast.Number):
            pass  # kept as Unary so that `fmt` prints what was written
        return ast.Unary(str(op), operand, self._s(meta))

    def index(self, meta, children):
        base, *indices = children
        return ast.Index(base, tuple(indices), self._s(meta))

    def slice(self, meta, children):
        lower, _colon, upper = children
        return ast.Slice(lower, upper, self._s(meta))

    def transpose(self, meta, children):
        return ast.Transpose(children[0], self._s(meta))

    def row_vector_literal(self, meta, children):
        return ast.RowVectorLiteral(tuple(children), self._s(meta))

    def array_literal(self, meta, children):
        return ast.ArrayLiteral(tuple(children), self._s(meta))

    # formulas: lm(1 + x + (1 | g))
    def formula(self, meta, children):
        terms, signs = _signed_terms(children)
        return ast.Formula(terms, signs, self._s(meta))

    def formula_constant(self, meta, children):
        (number,) = children
        if str(number) not in ("0", "1"):
            raise SyntaxErrorPdl(Diagnostic(
                "E006", f"`{number}` cannot be a formula term", _token_span(number, self.file),
                hint="a formula term is a data column (`x`), an interaction (`x:z`), `1` (the intercept) or `0` (none)"))
        return ast.Number(int(str(number)), str(number), self._s(meta))

    def formula_product(self, meta, children):
        names, ops = children[::2], children[1::2]
        for op in ops:
            if str(op) not in (":", "*"):
                raise SyntaxErrorPdl(Diagnostic(
                    "E006", f"`{op}` cannot join formula terms", _token_span(op, self.file),
                    hint="terms are added with `+`; `x:z` is an interaction and `x*z` means `x + z + x:z`"))
        variables = tuple(ast.Variable(str(n), _token_span(n, self.file)) for n in names)
        return ast.FormulaProduct(variables, tuple(str(op) for op in ops), self._s(meta))

    def formula_group(self, meta, children):
        *inner, bar, group = children
        terms, signs = _signed_terms(inner)
        variable = ast.Variable(str(group), _token_span(group, self.file))
        return ast.FormulaGroup(terms, signs, str(bar) == "|", variable, self._s(meta))


def _signed_terms(children) -> tuple[tuple, tuple[str, ...]]:
    """``[sign] term (sign term)*`` -> the terms and the sign written before each ("" for none)."""
    first_sign, *rest = children
    signs = [str(first_sign) if first_sign is not None else ""] + [str(s) for s in rest[1::2]]
    return tuple(rest[::2]), tuple(signs)
