"""Fuzzing the front end: generated and mutated ``.pdl`` programs, and what each one ends in.

Every model text must end in a compiled model or a probdsl error located at ``file:line:col:``
with a code, never in another exception.  Three hypothesis strategies make programs:

``grammar_programs()``     derivations of ``grammar/pdl.lark`` (syntactically valid, mostly nonsense)
``structured_programs()``  plausible models written statement by statement (declarations, priors,
                           likelihoods, definitions, loops, functions, ``lm(...)`` formulas)
``mutated_programs()``     the examples and golden tests with tokens deleted, duplicated, swapped,
                           renamed, numbers made extreme, hostile characters and line ends, ...

``outcome(text)`` runs a program through the pipeline (parse, ``fmt``, compile, ``--emit python``,
bind small generated data, one log density at an initial point) and names where it ended:
``"evaluated"``, ``"bound"``, ``"compiled"`` or ``"error E123"``; anything else raises.
"""

from __future__ import annotations

import random
import re
import signal
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from lark import Lark

from probdsl.compiled import compile_source
from probdsl.errors import DataError, ProbdslError
from probdsl.stdlib import distributions, functions
from probdsl.syntax import ast
from probdsl.syntax.parser import grammar_path, parse
from probdsl.syntax.printer import format_program

ROOT = Path(__file__).resolve().parent.parent
FILE = "fuzz.pdl"
SEEDS = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
         for p in sorted(ROOT.glob("examples/**/*.pdl")) + sorted((ROOT / "tests" / "golden").glob("*.pdl"))}
SIZE = 3  # every size of generated data: one shape for all programs keeps JAX's compiled kernels reused
MAX_VALUES = 2_000  # generated data larger than this is not made (the program is bound without data)
TIME_LIMIT_S = 60  # one program taking longer is a failure (a hang or a blow-up)
_LOCATED = re.compile(r"^\S.*:\d+:\d+: error\[E\d{3}\]: ")


class Unhandled(AssertionError):
    """A program ended in something other than a compiled model or a located probdsl error."""


# ---- the outcome of one program ---------------------------------------------------------


def outcome(text: str, file: str = FILE, *, evaluate: bool = True) -> str:
    """Where ``text`` ends: ``evaluated``, ``bound``, ``compiled`` or ``error E...``; raises otherwise."""
    with _time_limit(TIME_LIMIT_S):
        try:
            compiled = _compile(text, file)
        except ProbdslError as error:
            check_located(error, file)
            return f"error {error.codes[0]}"
        try:
            return _bind(compiled, evaluate)
        except DataError as error:  # values given in a dict have no line: the model's declaration is noted
            check_located(error, file, in_notes=True)
            return f"error {error.codes[0]}"
        except ProbdslError as error:
            check_located(error, file)
            return f"error {error.codes[0]}"


def check_located(error: ProbdslError, file: str = FILE, in_notes: bool = False) -> None:
    """Every diagnostic has a code and a span in ``file`` (or, ``in_notes``, a note naming a place in
    ``file``), and renders as ``file:line:col: error[E...]``."""
    text = str(error)
    if not error.diagnostics:
        raise Unhandled(f"a probdsl error without diagnostics: {text!r}")
    for d in error.diagnostics:
        if not re.fullmatch(r"E\d{3}", d.code) or d.code == "E000":
            raise Unhandled(f"a probdsl error without a code: {text}")
        located = d.span is not None and d.span.file == file and d.span.line >= 1 and d.span.column >= 1
        if not located and in_notes and d.span is None and any(re.search(rf"{file}:\d+:\d+", n) for n in d.notes):
            continue
        if not located:
            raise Unhandled(f"a probdsl error not located in {file}: {text}")
        head = d.render(error.sources).splitlines()[0]
        if not _LOCATED.match(head) or not head.startswith(f"{file}:"):
            raise Unhandled(f"a probdsl error not rendered as `{file}:line:col:`: {text}")


def _compile(text: str, file: str):
    format_program(parse(text, file))  # `probdsl fmt`
    compiled = compile_source(text, file)
    compiled.python_source()  # `probdsl compile --emit python`
    return compiled


def _bind(compiled, evaluate: bool) -> str:
    data = make_data(compiled)
    if data is None:  # sizes too large to make data for: binding fails on the missing data
        compiled.bind(None)
        return "bound"
    bound = compiled.bind(data)
    if not evaluate or bound.solves_odes or bound.simulated_observations:  # eager ODE solves take seconds;
        return "bound"  # a simulator has no log density (E409)
    log_density_at_init(bound)
    return "evaluated"


def log_density_at_init(bound, seed: int = 0) -> float:
    """The log density at a point drawn as NUTS draws its initial points (uniform in (-2, 2), unconstrained)."""
    import numpyro
    from numpyro import handlers
    from numpyro.infer import init_to_uniform

    model = handlers.substitute(handlers.seed(bound.numpyro_model, seed), substitute_fn=init_to_uniform(radius=2))
    with numpyro.validation_enabled(False):  # invalid distribution arguments make the density NaN, as under jit
        trace = handlers.trace(model).get_trace(bound.data)
        params = {k: s["value"] for k, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}
        unconstrained = bound.unconstrain(params)
    return float(bound.log_density(unconstrained))


@contextmanager
def _time_limit(seconds: float):
    def expire(signum, frame):
        raise Unhandled(f"a program ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- small data matching the declarations ------------------------------------------------


def make_data(compiled) -> dict | None:
    """A dict of data fitting ``compiled``'s declarations (sizes ``SIZE`` where free); None when too large."""
    decls = compiled.data_decls()
    nodes = {n: info.node for n, info in compiled.resolved.names.items() if info.kind == "data"}
    sizes: dict[str, int] = {}
    data: dict[str, object] = {}
    if any(b is not None and not abs(b) < MAX_VALUES for d in decls for b in (d.lower, d.upper)):
        return None
    for d in decls:  # scalar ints first: they may be sizes
        if d.type.is_scalar and d.type.is_int and not d.is_factor:
            data[d.name] = sizes[d.name] = int(_inside(SIZE, d.lower, d.upper))
    for d in decls:
        if d.name in data:
            continue
        type_spec = nodes[d.name].type
        exprs = list(type_spec.array_sizes) + list(type_spec.sizes)
        shape = [_size(d_size, e, sizes) for d_size, e in zip(d.type.dims, exprs + [None] * len(d.type.dims))]
        if any(n < 0 for n in shape) or np.prod(shape, dtype=float) > MAX_VALUES:
            return None
        if d.is_factor:
            data[d.name] = [f"level{i % SIZE}" for i in range(shape[0])]
        elif d.structure:
            data[d.name] = _structured(d.structure, shape)
        else:
            value = 1 if d.type.is_int else 0.5
            data[d.name] = np.full(shape, _inside(value, d.lower, d.upper), dtype=int if d.type.is_int else float)
    return data


def _inside(value: float, lower: float | None, upper: float | None) -> float:
    """``value``, or a value inside ``[lower, upper]`` when it is outside."""
    if lower is not None and upper is not None and lower <= upper:
        return value if lower <= value <= upper else (lower + upper) / 2
    if lower is not None and value < lower:
        return lower + 0.5 * (value != int(value))
    if upper is not None and value > upper:
        return upper - 0.5 * (value != int(value))
    return value


def _size(size, expr, known: dict[str, int]) -> int:
    if size.value is not None:
        return size.value
    value = _evaluate_size(expr, known) if expr is not None else None
    return SIZE if value is None else value


def _evaluate_size(e, known: dict[str, int]) -> int | None:
    """An integer size expression of known sizes (``K - 1``), or None."""
    if isinstance(e, ast.Number):
        return int(e.value) if isinstance(e.value, int) else None
    if isinstance(e, ast.Variable):
        return known.get(e.name, SIZE)
    if isinstance(e, ast.Paren):
        return _evaluate_size(e.expr, known)
    if isinstance(e, ast.Unary) and e.op == "-":
        inner = _evaluate_size(e.operand, known)
        return None if inner is None else -inner
    if isinstance(e, ast.Binary) and e.op in ("+", "-", "*"):
        a, b = _evaluate_size(e.left, known), _evaluate_size(e.right, known)
        if a is None or b is None:
            return None
        return a + b if e.op == "+" else a - b if e.op == "-" else a * b
    return None


def _structured(structure: str, shape: list[int]) -> np.ndarray:
    k = shape[-1]
    if structure == "simplex":
        one = np.full(k, 1.0 / max(k, 1))
    elif structure in ("ordered", "positive_ordered"):
        one = np.arange(1.0, k + 1)
    elif structure == "unit_vector":
        one = np.eye(1, k).ravel()
    elif structure == "sum_to_zero_vector":
        one = np.zeros(k)
    else:  # matrices: identity (a correlation, covariance and Cholesky factor all at once)
        rows = shape[-2] if len(shape) >= 2 else k
        one = np.eye(rows, k)
        return np.broadcast_to(one, tuple(shape[:-2]) + one.shape).copy()
    return np.broadcast_to(one, tuple(shape[:-1]) + one.shape).copy()


# ---- programs from the grammar -----------------------------------------------------------

NAMES = ("N", "K", "J", "T", "n", "k", "t", "y", "x", "X", "g", "mu", "sigma", "theta", "beta", "alpha", "tau",
         "eta", "z", "L", "f", "lower", "upper", "offset", "multiplier", "left", "right", "interval", "upper",
         "normal", "exponential", "std_normal", "poisson", "bernoulli_logit", "lkj_corr_cholesky", "flat",
         "normal_lpdf", "normal_rng", "exp", "log", "sum", "rep_vector", "to_vector", "ode", "if", "lm_", "Na")
NUMBERS = ("0", "1", "2", "3", "10", "0.5", ".5", "2.", "1e3", "1E-3", "1e308", "1e309", "1e-400", "0e0",
           "1000000000000", "99999999999999999999999999999999", "007")


SEPARATORS = (" ",) * 12 + ("\n", "\t", "\r\n", " // a comment\n", " /* a\ncomment */ ")


@lru_cache(maxsize=1)
def _grammar() -> tuple[dict, dict]:
    """The grammar's rules (name -> [(expansion, height)]) and words for each terminal; the height of an
    expansion is the depth of its shallowest complete derivation."""
    parser = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr")
    terminals, rules, _ = parser.grammar.compile(["start"], ())
    words = {
        "ROLE": ("data", "param"), "SCALAR_TYPE": ("int", "real"),
        "SIZED_TYPE": ("vector", "row_vector", "matrix", "simplex", "ordered", "positive_ordered",
                       "sum_to_zero_vector", "unit_vector", "cholesky_factor_corr", "cholesky_factor_cov",
                       "corr_matrix", "cov_matrix"),
        "EQ_OP": ("==", "!="), "ADD_OP": ("+", "-"), "MUL_OP": ("*", "/", "%", "\\", ".*", "./", "%/%"),
        "UNARY_OP": ("-", "!", "+"), "POW_OP": ("^", ".^"), "NAME": NAMES, "NUMBER": NUMBERS,
        "COMMENT": ("// a comment\n", "/* a\ncomment */"), "__IGNORE_1": (" ",),
    }
    for t in terminals:
        assert t.pattern.type == "str" or t.name in words, f"no words for the grammar's terminal {t.name}"
        words.setdefault(t.name, (t.pattern.value,))
    expansions: dict[str, list[tuple[str, ...]]] = {}
    for rule in rules:
        expansions.setdefault(rule.origin.name, []).append(tuple(s.name for s in rule.expansion))
    height = dict.fromkeys(words, 0)
    while len(height) < len(words) + len(expansions):
        for name, options in expansions.items():
            known = [1 + max((height[s] for s in e), default=0) for e in options if all(s in height for s in e)]
            if known and name not in height:
                height[name] = min(known)
    rules_with_heights = {name: [(e, 1 + max((height[s] for s in e), default=0)) for e in options]
                          for name, options in expansions.items()}
    return rules_with_heights, words


def grammar_program(rnd: random.Random, max_depth: int = 24) -> str:
    """A derivation of the grammar: at each rule any expansion, or (more often the deeper it is, always
    below ``max_depth / 2`` levels) one of the shallowest; names and numbers come from plausible pools,
    tokens are separated by blanks or comments.  (Hypothesis's ``from_lark`` keeps expanding the
    expression rules: 3 s a program, and most overrun.)"""
    rules, words = _grammar()
    out: list[str] = []

    def derive(symbol: str, depth: int) -> None:
        if symbol in words:
            out.append(rnd.choice(words[symbol]) + rnd.choice(SEPARATORS))
            return
        options = rules[symbol]
        if rnd.randint(1, max_depth) <= 2 * depth:
            lowest = min(h for _, h in options)
            options = [o for o in options if o[1] == lowest]
        for s in rnd.choice(options)[0]:
            derive(s, depth + 1)

    derive("start", 0)
    return "".join(out)


def grammar_programs() -> st.SearchStrategy[str]:
    return st.randoms(use_true_random=False).map(grammar_program)


# ---- plausible programs, statement by statement -------------------------------------------

SIZES = ("K - 1", "N + 1", "(N)", "3", "0", "1", "-1", "N * K", "1000000000000", "J", "N / 2", "1.5")
DATA_TYPES = ("vector[{n}]", "vector<lower=0>[{n}]", "array[{n}] int<lower=0>", "array[{n}] int<lower=0, upper=1>",
              "array[{n}] real", "matrix[{n}, {k}]", "row_vector[{k}]", "real", "real<lower=0>", "int<lower=0>",
              "factor", "factor[{n}]", "simplex[{k}]", "cov_matrix[{k}]", "array[{n}] vector[{k}]",
              "array[{n}] int<lower=1, upper={k}>", "ordered[{k}]", "corr_matrix[{k}]", "unit_vector[{k}]",
              "vector<lower={e}, upper={e}>[{n}]", "array[{n}, {k}] real")
PARAM_TYPES = ("real", "real", "real<lower=0>", "real<lower=0>", "real<lower=0, upper=1>", "real<lower=-1, upper=1>",
               "vector[{k}]", "vector<lower=0>[{k}]", "vector[{n}]", "simplex[{k}]", "ordered[{k}]",
               "positive_ordered[{k}]", "sum_to_zero_vector[{k}]", "unit_vector[{k}]", "cholesky_factor_corr[{k}]",
               "corr_matrix[{k}]", "cov_matrix[{k}]", "cholesky_factor_cov[{k}]", "matrix[{k}, {k}]",
               "row_vector[{k}]", "array[{k}] real", "array[{n}] real<lower=0>", "int<lower=1, upper={k}>",
               "array[{n}] int<lower=1, upper={k}>", "vector<offset={e}, multiplier={e}>[{k}]", "real<lower={e}>",
               "real<lower=0, upper={e}>", "array[{n}] vector[{k}]", "matrix<lower=0>[{n}, {k}]")
DATA_NAMES = ("y", "x", "k", "X", "g", "w", "c", "ts")
PARAM_NAMES = ("mu", "sigma", "theta", "beta", "alpha", "tau", "z", "L", "Omega", "phi")
DERIVED_NAMES = ("eta", "m", "lp", "y_rep", "r")
EXTREME = ("1e308", "-1e308", "1e-320", "-0", "-0.0", "0.0", "99999999999999999999999", "1e309", "2147483648",
           "9223372036854775808", "-9223372036854775809", "4.9e-324")
PLAIN = ("0", "1", "2", "0.5", "10", "3", "1.5", "-1", "100")
OPERATORS = ("+", "-", "*", "/", ".*", "./", "^", ".^", "%", "\\", "<", "==", "&&", "||", "+", "*", "-")
FUNCTION_NAMES = tuple(sorted(functions.FUNCTIONS))
DISTRIBUTION_NAMES = tuple(sorted(distributions.DISTRIBUTIONS))
COMMON_DISTRIBUTIONS = ("normal", "normal", "student_t", "cauchy", "exponential", "lognormal", "gamma", "beta",
                        "poisson", "bernoulli_logit", "binomial", "std_normal", "flat", "dirichlet",
                        "lkj_corr_cholesky", "multi_normal", "categorical", "uniform")
ARG_EXAMPLES = {"real": ("1", "0.5", "2", "{scalar}", "exp({scalar})"), "int": ("N", "10", "1", "K"),
                "vector": ("rep_vector(1, K)", "ones_vector(K)", "{vector}"),
                "matrix": ("identity_matrix(K)", "diag_matrix(rep_vector(1, K))", "{matrix}")}


def expression(rnd: random.Random, names, depth: int = 3) -> str:
    """An expression over ``names``: operators, built-in calls, indexing, conditionals, literals."""
    if depth <= 0 or rnd.random() < 0.3:
        roll = rnd.random()
        if roll < 0.6 and names:
            return rnd.choice(names)
        if roll < 0.93:
            return rnd.choice(PLAIN)
        return rnd.choice(EXTREME + ("pi()", "not_a_number()", "positive_infinity()"))
    sub = lambda: expression(rnd, names, depth - 1)  # noqa: E731
    kind = rnd.randrange(12)
    if kind < 4:
        return f"{sub()} {rnd.choice(OPERATORS)} {sub()}"
    if kind < 6:
        return f"{rnd.choice(FUNCTION_NAMES)}({', '.join(sub() for _ in range(rnd.choice((1, 1, 2, 3, 0))))})"
    if kind == 6:
        index = rnd.choice(("1", "2", "N", "K", "0", "-1", "1000000000000", "2:N", ":", ":2", "1, 2", ":, 1",
                            "{1, 2}", "n", "1.5") + tuple(names))
        return f"{rnd.choice(names or ('x',))}[{index}]"
    if kind == 7:
        return f"({sub()} ? {sub()} : {sub()})"
    if kind == 8:
        return f"{rnd.choice('-!')}{sub()}" if rnd.random() < 0.7 else f"({sub()})'"
    if kind == 9:
        items = ", ".join(sub() for _ in range(rnd.randint(1, 3)))
        return f"[{items}]" if rnd.random() < 0.5 else f"{{{items}}}"
    if kind == 10:
        return f"{rnd.choice(('normal', 'cauchy', 'poisson'))}_lpdf({sub()} | {sub()}, {sub()})"
    return f"{rnd.choice(('normal', 'poisson', 'bernoulli'))}_rng({sub()}, {sub()})"


def distribution_call(rnd: random.Random, names, kinds_of: dict[str, str]) -> str:
    """``dist(args)``: a built-in distribution, usually with arguments of the kinds it takes."""
    name = rnd.choice(COMMON_DISTRIBUTIONS if rnd.random() < 0.6 else DISTRIBUTION_NAMES + ("nomal",))
    spec = distributions.lookup(name)
    kinds = [a.kind for a in spec.args] if spec is not None else ["real", "real"]
    if rnd.random() < 0.02:  # a wrong number of arguments
        kinds = kinds[:-1] if kinds and rnd.random() < 0.5 else kinds + ["real"]
    args = []
    for kind in kinds:
        if rnd.random() < 0.8:
            fills = {k: rnd.choice([n for n, kk in kinds_of.items() if kk == k] or ["1"])
                     for k in ("scalar", "vector", "matrix")}
            args.append(rnd.choice(ARG_EXAMPLES[kind]).format(**fills))
        else:
            args.append(expression(rnd, names, 2))
    return f"{name}({', '.join(args)})"


# distributions that fit a declared type, by the family of the type (see ``_family``)
FITTING = {
    "real": ("normal(0, 1)", "normal({scalar}, 2)", "student_t(3, 0, 1)", "cauchy(0, 5)", "exponential(1)",
             "lognormal(0, 1)", "gamma(2, 2)", "uniform(-1, 1)", "flat()", "beta(2, 2)", "std_normal()",
             "normal(0, {scalar})", "double_exponential(0, 1)", "logistic(0, 1)", "weibull(2, 1)"),
    "vector": ("multi_normal(rep_vector(0, K), identity_matrix(K))", "dirichlet(rep_vector(1, K))"),
    "simplex": ("dirichlet(rep_vector(1, K))", "flat()"), "cholesky": ("lkj_corr_cholesky(2)",),
    "corr": ("lkj_corr(2)",), "cov": ("wishart(K + 1, identity_matrix(K))", "inv_wishart(K + 1, identity_matrix(K))"),
    "int": ("categorical(rep_vector(1.0 / K, K))", "discrete_range(1, K)", "poisson(exp({scalar}))",
            "bernoulli_logit({scalar})", "binomial(10, inv_logit({scalar}))", "neg_binomial_2(2, 1)"),
}


def _family(type_text: str) -> str:
    for word, family in (("cholesky", "cholesky"), ("corr", "corr"), ("cov", "cov"), ("simplex", "simplex"),
                         ("int", "int"), ("factor", "int")):
        if word in type_text:
            return family
    return "real"


def _fitting(rnd: random.Random, family: str, kinds_of: dict[str, str]) -> str:
    if family == "real" and rnd.random() < 0.05:
        family = "vector"
    scalars = [n for n, k in kinds_of.items() if k == "scalar"] or ["1"]
    return rnd.choice(FITTING[family]).format(scalar=rnd.choice(scalars))


def structured_program(rnd: random.Random) -> str:
    """A plausible model: sizes, data, parameters with priors, definitions, likelihoods, loops, functions."""
    size = {"n": "N" if rnd.random() < 0.9 else rnd.choice(SIZES), "k": "K" if rnd.random() < 0.9 else rnd.choice(SIZES)}
    lines, kinds_of, families = [], {}, {}
    for name in ("N", "K"):
        if rnd.random() < 0.85:
            bounds = rnd.choice(("<lower=1>", "<lower=1>", "", "<lower=2>", "<lower=0>", "<upper=0>",
                                 "<lower=1000000000000>"))
            lines.append(f"data {'int' if rnd.random() < 0.97 else 'real'}{bounds} {name};")
            kinds_of[name] = "int"

    def typed(template: str) -> str:
        return template.format(e=rnd.choice(("mu", "1", "0", "-1", "tau", "sigma", "1e308", "N")), **size)

    def prior() -> str:
        return (_fitting(rnd, families[name], kinds_of) if rnd.random() < 0.8
                else distribution_call(rnd, list(kinds_of), kinds_of))

    def declare(role: str, name: str, template: str) -> None:
        text = typed(template)
        kinds_of[name] = ("matrix" if "matrix" in text or "cholesky" in text else
                          "vector" if "[" in text.split(">")[-1] and "array" not in text else "scalar")
        families[name] = _family(text)
        declaration = f"{role} {text} {name}"
        if role == "data":
            lines.append(declaration + ";")
        elif rnd.random() < 0.7:
            lines.append(f"{declaration} ~ {prior()};")
        else:
            lines.append(f"{declaration};")
            if rnd.random() < 0.95:
                lines.append(f"{name} ~ {prior()};")

    data = rnd.sample(DATA_NAMES, rnd.randint(0, 4))
    for name in data:
        declare("data", name, rnd.choice(DATA_TYPES))
    for name in rnd.sample(PARAM_NAMES, rnd.randint(1, 4)):
        declare("param", name, rnd.choice(PARAM_TYPES))
    for _ in range(rnd.randint(0, 4)):
        names = list(kinds_of)
        kind = rnd.randrange(8)
        if kind == 0:
            typed_as = rnd.choice(("",) * 4 + ("vector[N] ", "real ", "array[N] int ", "matrix[K, K] "))
            name = rnd.choice(DERIVED_NAMES)
            lines.append(f"{typed_as}{name} = {expression(rnd, names)};")
            kinds_of[name] = "scalar"
        elif kind in (1, 2, 3):
            lhs = rnd.choice(data or names) if rnd.random() < 0.9 else expression(rnd, names, 2)
            extra = rnd.choice(("",) * 12 + (" T[0, ]", " T[, 10]", " T[0, 1]", " T[1, 0]", " T[, ]",
                                             " censored(right = c)", " censored(interval = k, upper = x)",
                                             " T[0, ] censored(left = k)"))
            dist = (_fitting(rnd, families.get(lhs, "real"), kinds_of) if rnd.random() < 0.7
                    else distribution_call(rnd, names, kinds_of))
            lines.append(f"{lhs} ~ {dist}{extra};")
        elif kind == 4:
            lines.append(_loop(rnd, names, kinds_of))
        elif kind == 5:
            lines.append(f"target += {expression(rnd, names)};")
        elif kind == 6:
            lines.append(_function(rnd, names))
        else:
            lines.append(_formula(rnd, data))
    if rnd.random() < 0.25:
        rnd.shuffle(lines)
    return "\n".join(lines) + "\n"


def _loop(rnd: random.Random, names, kinds_of) -> str:
    bounds = rnd.choice(("1:N", "1:N", "1:K", "2:N", "1:0", "N:1", "1:1000000000000", "(K + 1):N", "1:n"))
    inner = names + ["n"]
    body = rnd.choice(("{d}[n] = {e};", "y[n] ~ {dist};", "{d}[n] ~ {dist};", "target += {e};",
                       "for (k in 1:K) {d}[n, k] = {e};", "{{ {d}[n] = {e}; y[n] ~ {dist}; }}",
                       "{d}[n] = {d}[n - 1] + {e};", "param real q;", "{d}[n] = {d}[n - 2] * {e};"))
    text = body.format(d=rnd.choice(DERIVED_NAMES), e=expression(rnd, inner, 2),
                       dist=distribution_call(rnd, inner, kinds_of))
    prefix = rnd.choice(("", "", "", "eta[1] = 0;\n", "m[1] = 1;\nm[2] = 1;\n"))
    return f"{prefix}for (n in {bounds}) {text}"


def _function(rnd: random.Random, names) -> str:
    name = rnd.choice(("f", "f", "h", "normal", "exp", "sq"))
    params = [rnd.choice(("a", "b", "s", "t", "a")) for _ in range(rnd.randint(0, 3))]
    body_names = params + ["f", "h"] + (["mu"] if rnd.random() < 0.1 else [])
    if rnd.random() < 0.5:
        definition = f"fun {name}({', '.join(params)}) = {expression(rnd, body_names)};"
    else:
        definition = (f"fun {name}({', '.join(params)}) {{ d = {expression(rnd, body_names)}; "
                      f"return {expression(rnd, body_names + ['d'])}; }}")
    arity = len(params) if rnd.random() < 0.9 else rnd.randint(0, 4)
    call = f"{rnd.choice(DERIVED_NAMES)} = {name}({', '.join(expression(rnd, names, 2) for _ in range(arity))});"
    return f"{definition}\n{call}"


def _formula(rnd: random.Random, data) -> str:
    columns = list(data) + ["g", "x", "mu"]
    terms = []
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.randrange(4)
        if kind == 0:
            terms.append(rnd.choice(columns))
        elif kind == 1:
            terms.append(f"{rnd.choice(columns)}{rnd.choice(':*')}{rnd.choice(columns)}")
        else:
            terms.append(rnd.choice(("1", "0", "(1 | g)", "(1 + x | g)", "(1 + x || g)", "(x | g)", "(1 | x)",
                                     "- 1", "(1 | g/x)")))
    target = rnd.choice(("mu", "eta", "m"))
    likelihood = f"\ny ~ normal({target}, 1);" if rnd.random() < 0.5 else ""
    return f"{target} = lm({' + '.join(terms)});{likelihood}"


def structured_programs() -> st.SearchStrategy[str]:
    return st.randoms(use_true_random=False).map(structured_program)


# ---- mutations of the examples and golden tests -------------------------------------------

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.?\d*(?:[eE][+-]?\d+)?|\s+|//[^\n]*|/\*.*?\*/|.", re.S)
HOSTILE = ("\u0430", "\u200f", "\u200e", "\x00", "\U0001f600", "\u0301", "\ufeff", "\u200b", "\u00a0", "\uff1b",
           "\u2212", "\u037e", "\ud7ff", "\x1b[31m", "\x0b", "\x85", "\u2028", "\u00e9", "\ufffd", "\u202e")
VOCABULARY = ("data", "param", "for", "in", "target", "+=", "~", ";", "=", "(", ")", "[", "]", "{", "}", "<", ">",
              ",", ":", "?", "|", "||", "'", "T", "fun", "return", "lm", "factor", "array", "censored", "vector",
              "real", "int", "matrix", "lower", "upper", "offset", "multiplier", "1", "0", "-", "*", "^", ".*")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _solid(tokens: list[str]) -> list[int]:
    return [i for i, t in enumerate(tokens) if not t.isspace()] or [0]


def _delete(text, rnd):
    tokens = _tokens(text)
    if tokens:
        del tokens[rnd.choice(_solid(tokens))]
    return "".join(tokens)


def _duplicate(text, rnd):
    tokens = _tokens(text)
    if tokens:
        i = rnd.choice(_solid(tokens))
        tokens.insert(i, tokens[i] + " ")
    return "".join(tokens)


def _swap(text, rnd):
    tokens = _tokens(text)
    solid = _solid(tokens)
    if len(solid) > 1:
        i = rnd.randrange(len(solid) - 1)
        a, b = solid[i], solid[i + 1] if rnd.random() < 0.7 else rnd.choice(solid)
        tokens[a], tokens[b] = tokens[b], tokens[a]
    return "".join(tokens)


def _insert(text, rnd):
    tokens = _tokens(text)
    tokens.insert(rnd.randrange(len(tokens) + 1), f" {rnd.choice(VOCABULARY)} ")
    return "".join(tokens)


def _rename(text, rnd):
    """One name replaced by another name of the program, a built-in's, or a keyword."""
    tokens = _tokens(text)
    names = [i for i, t in enumerate(tokens) if re.fullmatch(r"[A-Za-z_]\w*", t)]
    if names:
        pool = [tokens[i] for i in names] + list(NAMES) + ["_x", "__init__", "jnp", "data", "T", "lm", "in"]
        tokens[rnd.choice(names)] = rnd.choice(pool)
    return "".join(tokens)


def _swap_names(text, rnd):
    """Two names of the program exchanged everywhere."""
    names = sorted(set(re.findall(r"\b[A-Za-z]\w*\b", text)))
    if len(names) < 2:
        return text
    a, b = rnd.sample(names, 2)
    return re.sub(rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group(0) == a else a, text)


def _extreme_number(text, rnd):
    tokens = _tokens(text)
    numbers = [i for i, t in enumerate(tokens) if t[:1].isdigit()]
    extreme = EXTREME + ("0", "1e400", "1000000000000", "nan", "inf", "NaN", "Infinity", "1" * 400, "0.0" + "0" * 400)
    if numbers:
        tokens[rnd.choice(numbers)] = rnd.choice(extreme)
    return "".join(tokens)


def _huge_size(text, rnd):
    """A size in a type made huge, zero, negative or non-integer."""
    spots = [m.start(1) for m in re.finditer(r"(?:vector|matrix|simplex|array|ordered|factor)\w*(?:<[^>]*>)?\[(\w)",
                                             text)]
    if not spots:
        return text
    i = rnd.choice(spots)
    end = i + len(re.match(r"\w+", text[i:]).group(0))
    size = rnd.choice(("1000000000000", "0", "-1", "2.5", "99999999999999999999999", "N * N * N * N * N * N",
                       "1000000", "N - 1000"))
    return text[:i] + size + text[end:]


def _nest(text, rnd):
    """An expression nested deeply: brackets, unary operators or a long chain of sums."""
    tokens = _tokens(text)
    spots = [i for i, t in enumerate(tokens) if t[:1].isdigit() or re.fullmatch(r"[A-Za-z]\w*", t)]
    if not spots:
        return text
    i = rnd.choice(spots)
    depth = rnd.choice((50, 199, 200, 201, 1000, 5000))
    kind = rnd.randrange(5)
    if kind == 0:
        tokens[i] = "(" * depth + tokens[i] + ")" * depth
    elif kind == 1:
        tokens[i] = "-" * depth + tokens[i]
    elif kind == 2:
        tokens[i] = " + ".join([tokens[i]] * depth)
    elif kind == 3:
        tokens[i] = "exp(" * depth + tokens[i] + ")" * depth
    else:
        tokens[i] = tokens[i] + "'" * depth
    return "".join(tokens)


def _hostile_character(text, rnd):
    i = rnd.randrange(len(text) + 1)
    return text[:i] + rnd.choice(HOSTILE) + text[i:]


def _line_ends(text, rnd):
    return rnd.choice((text.replace("\n", "\r\n"), text.replace("\n", "\r"), text.replace("\n", " "),
                       text.replace("\n", "\f"), text + "\n" * 1000, "\ufeff" + text, text.rstrip("\n")))


def _long_line(text, rnd):
    i = rnd.randrange(len(text) + 1)
    filler = rnd.choice((" " * 100_000, "// " + "x" * 100_000 + "\n", "x" * 10_000, "/* " + "*" * 50_000 + " */"))
    return text[:i] + filler + text[i:]


def _truncate(text, rnd):
    return text[:rnd.randrange(len(text) + 1)]


def _splice(text, rnd):
    """Lines of another seed program put into this one."""
    other = SEEDS[rnd.choice(sorted(SEEDS))].splitlines(keepends=True)
    lines = text.splitlines(keepends=True)
    start = rnd.randrange(len(other) + 1)
    lines[rnd.randrange(len(lines) + 1):0] = other[start:start + rnd.randint(1, 5)]
    return "".join(lines)


def _junk(text, rnd):
    choice = rnd.randrange(4)
    if choice == 0:
        return ""
    if choice == 1:
        return bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 300))).decode("latin-1")
    if choice == 2:
        return "".join(chr(rnd.choice((rnd.randrange(0xD800), rnd.randrange(0xE000, 0x110000))))
                       for _ in range(rnd.randint(1, 100)))
    return "/*" + text  # an unterminated comment


MUTATIONS = (_delete, _duplicate, _swap, _insert, _rename, _swap_names, _extreme_number, _huge_size, _nest,
             _hostile_character, _line_ends, _long_line, _truncate, _splice, _junk)


@st.composite
def mutated_programs(draw) -> str:
    """An example or golden test with one to three mutations."""
    text = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    rnd = draw(st.randoms(use_true_random=False))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        text = mutation(text, rnd)
    return text


def all_programs() -> st.SearchStrategy[tuple[str, str]]:
    """``(generator, text)`` from the three generators."""
    return st.one_of(grammar_programs().map(lambda t: ("grammar", t)),
                     structured_programs().map(lambda t: ("structured", t)),
                     mutated_programs().map(lambda t: ("mutated", t)))
