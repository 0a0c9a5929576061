"""No code execution (docs/security.md): hostile model and data files are data, never code.

Every hostile model either compiles to a correct model or fails with a probdsl error.  While it
is compiled, bound, evaluated, emitted as Python and fitted, ``eval``/``exec``/``compile``/
``__import__``/``importlib.import_module`` fail on any argument carrying the marker that every
hostile file holds (in its comments, data and names), imports that probdsl never names are
refused, and starting a process fails.  The emitted program is then checked name by name with
Python's ``ast`` (only the emitter's own names and the model's validated, renamed identifiers,
none shadowing another) and run, giving the in-process log density.  A static scan pins the
places in probdsl/ that turn text into code.
"""

import ast as pyast
import builtins
import contextlib
import csv
import importlib
import inspect
import keyword
import os
import re
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

import probdsl.api as api
from probdsl import user_cache
from probdsl.codegen import ode, runtime_discrete, runtime_dists
from probdsl.errors import ProbdslError
from probdsl.results.io import load_fit, write_netcdf_atomic
from probdsl.results.summary import render_summary, summarize
from probdsl.syntax import ast
from probdsl.syntax.parser import parse

with contextlib.suppress(ImportError):  # before the guards: importing h5py runs `uname -p` (platform.processor)
    import h5netcdf  # noqa: F401 - result files' backend

ROOT = Path(__file__).parent.parent
MARKER = "pwned"  # in every hostile file: model text reaching eval/exec/compile/import would carry it

# Python in comments: never code, never copied into the emitted program.
COMMENTS = """// pwned: __import__('os').system('touch /tmp/pwned') ; exec("pwned") ; {0.__class__} ; %s%s
// ''' \"\"\" \\N{x}
/* eval(compile('pwned', '<x>', 'exec')) ; import subprocess; subprocess.run(['pwned']) ; ｅｘｅｃ \u202e */
"""

# Names that are Python keywords, builtins, or the emitted program's own names (its imports, the
# runtime it embeds, model's arguments), used in every position a name can take.
HOSTILE = {
    "builtins": ("""
data int<lower=1> len;
data vector[len] print;
param real sum ~ normal(0, 5);
param real<lower=0> abs ~ exponential(1);
param real print_ ~ normal(0, 1);  // `print` was renamed `print_` once: two names, one Python name
range = sum + print_;
print ~ normal(range, abs);
pwned_exec = normal_rng(sum, abs);
""", {"print": [0.5, 1.5, -0.3]}),
    "keywords": ("""
data int<lower=1> None;
data vector[None] lambda;
param real class ~ normal(0, 1);
param real<lower=0> def ~ exponential(1);
param vector[None] import ~ normal(class, def);
True = import + 1;
False = class * 2;
lambda ~ normal(True, 1);
param real is ~ normal(False, 1);
param real not ~ normal(0, 1);
and = is + not;
or = and * 2;
param real<lower=0> yield ~ gamma(2, 2);
if = or + yield;
pwned_await = if;
""", {"lambda": [0.1, 0.4]}),
    "emitter_names": ("""
data int<lower=1> numpyro;
data vector[numpyro] jax;
data real<lower=0> model;
param real jnp ~ normal(0, 5);
param real jnp_ ~ normal(jnp, 1);
param real<lower=0> dist ~ exponential(1);
param real<lower=0> Restricted ~ normal(0, 1);
param real<lower=jnp> constraints ~ normal(jnp_, 2);
param vector<offset=jnp, multiplier=dist>[numpyro] AffineTransform ~ normal(jnp, dist);
predict = AffineTransform + constraints;
from_prior = predict * model;
jax ~ normal(from_prior, Restricted + 1) T[-100, ];
param real take ~ normal(0, 1);
param real sum_rightmost ~ normal(take, 1);
param real biject_to ~ normal(0, 1);
Truncated = biject_to + sum_rightmost;
data real Censored;
data int<lower=0, upper=1> object;
Censored ~ normal(Truncated, 1) censored(right = object);
param real Unconstrained ~ normal(0, 1);
os = Unconstrained + 1; sys = os + 1; np = sys; math = np; jsp = math; jsl = jsp; exec = jsl; eval = exec;
compile = eval; globals = compile; getattr = globals; open = getattr; input = open; type = input;
breakpoint = type; diffrax = breakpoint; ode_solve = diffrax; logsumexp = ode_solve; pwned_data = logsumexp;
""", {"jax": [0.2, -0.1, 0.7], "model": 1.0, "Censored": 0.5, "object": 1}),
    "discrete_mixture": ("""
data int<lower=1> N;
data vector[N] y;
param simplex[2] by_element ~ dirichlet([1, 1]');
param ordered[2] hmm_forward ~ normal(0, 10);
param real<lower=0> logsumexp ~ lognormal(0, 2);
param array[N] int<lower=1, upper=2> Marginalized ~ categorical(by_element);
y ~ normal(hmm_forward[Marginalized], logsumexp);
pwned_hmm_draw = Marginalized;
""", {"y": [-1.0, 0.2, 2.5, 3.1]}),
    "discrete_chain": ("""
data int<lower=2> T;
data vector[T] y;
param simplex[2] enumerated_draw ~ dirichlet([1, 1]');
param array[2] simplex[2] hmm_draw;
for (k in 1:2) hmm_draw[k] ~ dirichlet([2, 2]');
param ordered[2] print ~ normal(0, 5);
param array[T] int<lower=1, upper=2> lambda;
lambda[1] ~ categorical(enumerated_draw);
for (range in 2:T) lambda[range] ~ categorical(hmm_draw[lambda[range - 1]]);
for (len in 1:T) y[len] ~ normal(print[lambda[len]], 1);
pwned = lambda;
""", {"y": [-1.0, 0.2, 2.5, 3.1, 2.9]}),
    # functions named like builtins and like model variables, parameters and locals named like the
    # program's imports, a loop variable named like a function, and two variants of one function
    "functions": ("""
fun exec(jnp, print) = jnp * print + 1;
fun eval(x) {
  lambda = x + 1;
  dist = lambda * 2;
  return dist - x;
}
fun f(a) = a;
fun print(a, b) = a * b;
data int<lower=1> N;
data vector[N] y;
param real eval ~ normal(0, 1);
param real<lower=0> f ~ exponential(1);
param vector[N] pwned_v ~ normal(0, 1);
for (exec in 1:N) y[exec] ~ normal(exec(eval, 2.0) + f(eval) + eval(f) + print(pwned_v[exec], 0.1), f);
z = print(rep_matrix(1, 2, 2), rep_vector(eval, 2));
""", {"y": [0.5, 1.5, -0.3]}),
    "recurrence": ("""
data int<lower=2> T;
data vector[T] y;
param real<lower=-1, upper=1> print ~ uniform(-1, 1);
param real<lower=0> len ~ exponential(1);
lambda[1] = y[1];
for (jnp in 2:T) lambda[jnp] = print * lambda[jnp - 1] + y[jnp - 1];
for (range in 1:T) y[range] ~ normal(lambda[range], len);
pwned_input[1] = 0;
for (None in 2:T) pwned_input[None] = pwned_input[None - 1] + print;
""", {"y": [0.1, 0.5, 0.2, -0.4]}),
    "missing": ("""
data int<lower=1> N;
data vector[N] exec;
param real eval ~ normal(0, 5);
param real<lower=0> compile ~ exponential(1);
exec ~ normal(eval, compile);
pwned = exec;
""", {"exec": [1.0, None, 3.0, None]}),
    # names equal to the sites probdsl makes up: a plate `y__rows`, `y_2` for a second likelihood of
    # `y`, `target_1` for the first `target +=`, `obs` for a likelihood of a constant
    "sites": ("""
data int<lower=1> N;
data vector[N] y;
param real mu ~ normal(0, 1);
param real y_rows ~ normal(0, 1);
param real y_2 ~ normal(0, 1);
param real target_1 ~ normal(0, 1);
param real obs ~ normal(0, 1);
y ~ normal(mu + y_rows, 1);
y ~ normal(y_2, 1);
target += -0.5 * (target_1 - obs)^2;
2.5 ~ normal(obs, 1);
pwned_obs_2 = obs;
""", {"y": [0.5, 1.5, -0.3]}),
    # 1e999 is inf: the emitted program must not read it as a name `inf`
    "numbers": ("""
param real inf ~ normal(0, 1);
param real nan ~ normal(0, 1);
data real y;
y ~ normal(inf + nan, 1 + 1 / 1e999);
pwned_z = 1e999 > inf ? 1 : 0;
""", {"y": 0.3}),
}

# Hostile text the language has no place for: each is a located probdsl error.
REJECTED = {
    "fullwidth_exec": ("param real ｅｘｅｃ ~ normal(0, 1);", "E001"),  # NFKC would make it `exec`
    "cyrillic_homoglyph": ("param real \u0435xec ~ normal(0, 1);", "E001"),
    "dunder": ("param real __import__ ~ normal(0, 1);", "E001"),
    "generated_local": ("param real _d ~ normal(0, 1);", "E001"),
    "string": ("param real mu ~ normal(0, 1); y = \"__import__('os')\";", "E001"),
    "call_import": ("param real mu ~ normal(0, 1); y = __import__(mu);", "E001"),
    "attribute": ("param real os ~ normal(0, 1); y = os.system(1);", "E001"),
    "format_braces": ("param real mu ~ normal(0, 1); y = {0.__class__};", "E001"),
    "format_percent": ("param real mu ~ normal(0, 1); y = mu %s 2;", "E002"),
    "statement": ("param real mu ~ normal(0, 1);\nimport os", "E002"),
    "call_exec": ("param real mu ~ normal(0, 1); y = exec(mu);", "E121"),
    "distribution_eval": ("param real mu ~ eval(0, 1);", "E120"),
    "censoring_name": ("data real y; param real mu ~ normal(0, 1); y ~ normal(mu, 1) censored(system = 1);", "E147"),
    "constraint_name": ("param real<globals=0> mu ~ normal(0, 1);", "E005"),
    "double_underscore": ("param real x__import__ ~ normal(0, 1);", "E105"),
    "double_underscore_loop": ("data int N; data vector[N] y; param real mu ~ normal(0, 1); "
                               "for (i__class__ in 1:N) y[i__class__] ~ normal(mu, 1);", "E105"),
    "double_underscore_function": ("fun f__globals__(x) = x; param real mu ~ normal(f__globals__(0), 1);", "E105"),
    "double_underscore_argument": ("fun f(x__y) = x__y; param real mu ~ normal(f(0), 1);", "E105"),
    "levels_of_a_factor": ("data factor g; data vector[g] g__levels; param real mu ~ normal(0, 1);", "E105"),
    "unconstrained_site": ("param real<lower=0> s ~ normal(0, 1); param real<offset=0, multiplier=s> a ~ normal(0, s);"
                           "param real a__u ~ normal(0, 1);", "E105"),
}

# ---- guards -----------------------------------------------------------------------------------


def _carries_marker(value, depth: int = 0) -> bool:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")
    if isinstance(value, str):
        return MARKER in value.lower()
    if isinstance(value, types.CodeType):
        return any(_carries_marker(v, depth + 1) for v in (*value.co_consts, *value.co_names, *value.co_varnames))
    if isinstance(value, pyast.AST):
        return _carries_marker(pyast.dump(value))
    if isinstance(value, (tuple, list)) and depth < 4:
        return any(_carries_marker(v, depth + 1) for v in value)
    return False


def _modules_probdsl_imports() -> set[str]:
    """The top-level modules named by an ``import`` anywhere in probdsl/ (inside functions too)."""
    names = set()
    for path in (ROOT / "probdsl").rglob("*.py"):
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, pyast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


PROBDSL_IMPORTS = _modules_probdsl_imports()
SPAWNERS = [(os, n) for n in ("system", "popen", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp",
                              "execvpe", "fork", "forkpty", "spawnv", "spawnve") if hasattr(os, n)]


@contextlib.contextmanager
def guarded():
    """Record (and refuse) model text reaching eval/exec/compile/imports, unknown imports by probdsl,
    and new processes; the block fails if anything was recorded."""
    seen: list[str] = []

    def refuse(what):
        seen.append(what)
        raise AssertionError(f"refused: {what}")

    def wrap(name, real):
        def guard(*args, **kwargs):
            if args and _carries_marker(args[0]) or _carries_marker(kwargs.get("source")):
                refuse(f"{name}({str(args[0])[:80]!r})")
            return real(*args, **kwargs)
        return guard

    real_import = builtins.__import__

    def guard_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__") or ""
        if _carries_marker(name) or _carries_marker(tuple(fromlist or ())):
            refuse(f"import {name} {fromlist}")
        if level == 0 and importer.split(".")[0] == "probdsl" and name.split(".")[0] not in PROBDSL_IMPORTS:
            refuse(f"{importer} imports {name}, which no import statement of probdsl names")
        return real_import(name, globals, locals, fromlist, level)

    with pytest.MonkeyPatch.context() as mp:
        for name in ("eval", "exec", "compile"):
            mp.setattr(builtins, name, wrap(name, getattr(builtins, name)))
        mp.setattr(builtins, "__import__", guard_import)
        mp.setattr(importlib, "import_module", wrap("importlib.import_module", importlib.import_module))
        for module, name in SPAWNERS:
            mp.setattr(module, name, lambda *a, _n=name, **k: refuse(f"os.{_n}{a}"))
        mp.setattr(subprocess.Popen, "__init__", lambda self, *a, **k: refuse(f"subprocess.Popen{a}"))
        yield seen
    assert seen == []


# ---- the emitted program ------------------------------------------------------------------------

HEADER_MODULES = {"jax", "jax.numpy", "jax.scipy.linalg", "jax.scipy.special", "numpyro", "numpyro.distributions",
                  "numpyro.distributions.transforms", "numpyro.distributions.util", "diffrax"}
# the emitter's own names (fixed on purpose: a new one must be added here and kept from model names)
OWN = {"jax", "jnp", "jsl", "jsp", "numpyro", "dist", "constraints", "AffineTransform", "biject_to", "sum_rightmost",
       "logsumexp", "diffrax", "ode_solve", "model", "data", "predict", "from_prior",
       "Restricted", "Unconstrained", "Truncated", "Censored", "take",
       "Marginalized", "by_element", "enumerated_draw", "hmm_forward", "hmm_draw"}
RUNTIME_SOURCE = "".join(inspect.getsource(m) for m in (runtime_dists, runtime_discrete, ode))
SHADOWED = OWN | set(dir(builtins)) | set(keyword.kwlist)
EMITTER_BUILTINS = {"None", "True", "False", "float", "int", "max", "tuple", "len"}  # the builtins it calls
# attributes the emitter writes: those its templates (probdsl/codegen, probdsl/stdlib) spell
ATTRIBUTES = {m for folder in ("codegen", "stdlib") for path in (ROOT / "probdsl" / folder).glob("*.py")
              for m in re.findall(r"\.([A-Za-z_]\w*)", path.read_text(encoding="utf-8"))}
SITE_SUFFIXES = r"(_\d+)?(__u|__rows|__levels|__missing|__observed|__marginal|_missing)?"


def model_names(source: str) -> tuple[set[str], set[str]]:
    """The variables (declared, defined, loop variables, function arguments and locals) and the functions
    of a model's text."""
    variables, functions = set(), set()
    for node in ast.walk(parse(source)):
        if isinstance(node, (ast.Declaration, ast.Variable)):
            variables.add(node.name)
        if isinstance(node, ast.FunctionDef):
            functions.add(node.name)
            variables |= set(node.params)
        if isinstance(node, ast.ForLoop):
            variables.add(node.var)
    return variables, functions


def python_name(name: str) -> str:
    return name + "__" if name in SHADOWED else name


def check_emitted(source: str, model_text: str) -> None:
    """Only the emitter's own names and the model's identifiers, renamed so none shadows another."""
    variables, model_functions = model_names(model_text)
    identifiers = variables | model_functions
    renamed = {python_name(n) for n in identifiers}
    assert len(renamed) == len(identifiers) and not renamed & SHADOWED
    assert not any(line.strip() and line.strip() in source for line in COMMENTS.splitlines())
    tree = pyast.parse(source)
    assert pyast.get_docstring(tree).startswith('NumPyro model generated by probdsl from "')
    functions = set()
    for node in tree.body[1:]:
        if isinstance(node, (pyast.Import, pyast.ImportFrom)):
            modules = {node.module} if isinstance(node, pyast.ImportFrom) else {a.name for a in node.names}
            assert modules <= HEADER_MODULES, modules
        elif isinstance(node, (pyast.ClassDef, pyast.FunctionDef)) and (node.name in OWN - {"model"}
                                                                         or node.name.startswith("_")):
            assert pyast.get_source_segment(source, node) in RUNTIME_SOURCE  # probdsl's runtime, verbatim
        else:
            assert isinstance(node, pyast.FunctionDef), pyast.dump(node)[:200]
            base = re.fullmatch(r"(.+?)(__fn)?(__\d+)?", node.name).group(1)
            assert node.name == "model" or python_name(base) in renamed, node.name
            functions.add(node.name)
    assert {python_name(re.sub("__fn$", "", f)) for f in functions} >= {python_name(f) for f in model_functions}
    model_part = [n for n in tree.body if isinstance(n, pyast.FunctionDef) and n.name in functions]
    bound = {"data", "predict", "from_prior"}
    own_python = renamed | {n + "__levels" for n in renamed}
    for node in (n for top in model_part for n in pyast.walk(top)):
        if isinstance(node, pyast.Name) and isinstance(node.ctx, pyast.Store) or isinstance(node, pyast.arg):
            name = node.id if isinstance(node, pyast.Name) else node.arg
            assert name.startswith("_") or name in own_python or name in bound, name
            assert name not in SHADOWED or name in bound, f"{name} shadows one of the program's own names"
            bound.add(name)
        elif isinstance(node, pyast.FunctionDef) and node.name not in functions:
            assert node.name.startswith("_"), node.name  # a step of a scan or of a sum over states
    assert {python_name(v) for v in variables} <= bound  # each under its one Python name
    for node in (n for top in model_part for n in pyast.walk(top)):
        if isinstance(node, pyast.Name) and isinstance(node.ctx, pyast.Load):
            assert node.id in bound | functions | OWN | EMITTER_BUILTINS or node.id.startswith("_"), node.id
        if isinstance(node, pyast.Attribute):
            assert node.attr in ATTRIBUTES, node.attr
        if isinstance(node, pyast.Constant) and isinstance(node.value, str):  # a site, a data key, a jnp.take mode
            site = rf"({'|'.join(identifiers | {'obs', 'target'})}){SITE_SUFFIXES}"
            assert node.value in ("fill", "clip") or re.fullmatch(site, node.value), node.value
    for word in re.findall(rf"\w*{MARKER}\w*", source, re.I):  # the marker appears only in model names
        assert re.fullmatch(rf"_?({'|'.join(identifiers)})(_window|_depth|_step|_values)?{SITE_SUFFIXES}", word), word


def prior_draw(bound) -> dict:
    """A prior draw of every latent site (``sample_prior_or_init`` compiles: 30 s for a hidden Markov chain)."""
    trace = handlers.trace(handlers.seed(bound.numpyro_model, 0)).get_trace(bound.data)
    return {name: site["value"] for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}


def same_log_density(bound, source: str) -> None:
    """The emitted program, run in a fresh namespace, gives the in-process model's log density."""
    namespace: dict = {}
    exec(compile(source, "emitted", "exec"), namespace)  # our generated code, checked above; its imports too
    params = prior_draw(bound)
    with guarded():
        lp_inproc = log_density(bound.numpyro_model, (bound.data,), {}, params)[0]
        lp_emitted = log_density(namespace["model"], (bound.data,), {}, params)[0]
    assert np.isfinite(lp_inproc)
    np.testing.assert_allclose(lp_emitted, lp_inproc, rtol=1e-6)


# ---- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c == "discrete_chain" else c
                                  for c in HOSTILE])  # a hidden Markov chain takes 30 s to trace eagerly
def test_hostile_model_compiles_to_the_same_model_and_runs_nothing(case):
    text, data = HOSTILE[case]
    source = COMMENTS + text
    with guarded():
        bound = api.compile(source).bind(data)
        lp = bound.log_density(bound.unconstrain(prior_draw(bound)))
        emitted = bound.python_source()
    assert np.isfinite(lp)
    check_emitted(emitted, text)
    same_log_density(bound, emitted)


@pytest.mark.parametrize("case", REJECTED)
def test_hostile_text_is_a_located_error(case):
    text, code = REJECTED[case]
    with guarded(), pytest.raises(ProbdslError) as info:
        api.compile(COMMENTS + text)
    assert info.value.codes[0] == code and str(info.value).startswith("<string>:")


def test_hostile_data_stays_labels_through_fit_and_result_file(tmp_path):
    """Factor levels, column names and JSON keys written as Python are labels, never source."""
    levels = ["\"); __import__('os').system('touch pwned')#", "{0.__class__.__mro__}pwned", "%s%d pwned\x1b[2J"]
    with open(tmp_path / "d.csv", "w", newline="") as f:
        csv.writer(f).writerows([["g", "y", "pwned%s{0.__class__}"], *[[levels[i % 3], 0.1 * i, i] for i in range(6)]])
    (tmp_path / "d.json").write_text('{"__import__(\\"os\\")pwned": 3, "x": 1.5}')
    model = api.compile(COMMENTS + "data factor g; data int<lower=1> N; data vector[N] y; data real x;"
                        "param vector[g] print ~ normal(0, 1); y ~ normal(print[g] + x, 1);")
    with guarded():
        bound = model.bind([tmp_path / "d.csv", tmp_path / "d.json"])
        emitted = bound.python_source()
        idata = api.fit_bound(bound, chains=1, warmup=30, draws=20, seed=1, progress=False)
        write_netcdf_atomic(idata, tmp_path / "fit.nc")
        again = load_fit(tmp_path / "fit.nc")
        table = render_summary(summarize(again))
        refit = api.load_fit_model(again)
    assert sorted(bound.coords["g"]) == list(again.posterior["print"].coords["g"].values) == sorted(levels)
    assert MARKER not in emitted and "print[{0.__class__.__mro__}pwned]" in table and refit.source == model.source
    check_emitted(emitted, model.source)
    same_log_density(bound, emitted)


def test_a_result_file_with_a_hostile_model_source_is_compiled_not_run(tmp_path):
    """`probdsl predict` rebuilds the model from the fit's `model_source`: an untrusted file's text."""
    import arviz as az
    idata = az.from_dict(posterior={"mu": np.zeros((1, 3))})
    idata.attrs["model_source"] = COMMENTS + "param real mu ~ normal(0, 1);\n__import__('os').system('pwned');"
    write_netcdf_atomic(idata, tmp_path / "fit.nc")
    with guarded(), pytest.raises(ProbdslError) as info:
        api.load_fit_model(load_fit(tmp_path / "fit.nc"))
    assert info.value.codes == ["E001"]


def test_emitted_header_quotes_the_file_name():
    from probdsl.codegen.emit_python import emit
    file = 'x"""; import os; os.system("pwned"); """\\N.pdl'
    source = emit(api.compile("param real mu ~ normal(0, 1);").checked, file=file)
    tree = pyast.parse(source)
    assert pyast.get_docstring(tree).startswith(f'NumPyro model generated by probdsl from "{file}".')
    assert not any(isinstance(n, pyast.Import) and n.names[0].name == "os" for n in tree.body)


def test_a_cache_directory_other_users_can_write_is_refused(tmp_path):
    """The cache holds code (Lark unpickles its parser tables, JAX loads compiled programs)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(OSError, match="another user"):
        user_cache.writable_directory(shared)
    made = user_cache.writable_directory(tmp_path / "new" / "grammar")
    assert made.stat().st_mode & 0o777 == 0o700


# ---- every place probdsl turns text into code ----------------------------------------------------

DYNAMIC_CODE = {  # (file, enclosing function, call): why it is safe
    ("probdsl/stdlib/functions.py", "_compile", "eval"):
        "builds a built-in function's JAX implementation from its template in the table below it, at import; "
        "the template is probdsl's text and the arguments are a0, a1, ...: no model or data text",
    ("probdsl/stdlib/distributions.py", "_compile", "eval"):
        "the same for a distribution's constructor (`dist.Normal({0}, {1})`)",
}
CODE_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
CODE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "importlib",
                "runpy", "code", "codeop"}


class _CodeCalls(pyast.NodeVisitor):
    """Calls of eval/exec/compile/__import__ (bare or as ``builtins.x``), by enclosing function."""

    def __init__(self, own: set[str]):
        self.own, self.where, self.found = own, ["<module>"], set()

    def visit_FunctionDef(self, node):
        self.where.append(node.name)
        self.generic_visit(node)
        self.where.pop()

    def visit_Call(self, node):
        f = node.func
        bare = isinstance(f, pyast.Name) and f.id in CODE_CALLS and f.id not in self.own  # api.compile is not it
        qualified = isinstance(f, pyast.Attribute) and f.attr in CODE_CALLS and getattr(f.value, "id", "") == "builtins"
        if bare or qualified:
            self.found.add((self.where[-1], f.id if bare else f.attr))
        self.generic_visit(node)


def test_the_places_that_turn_text_into_code_are_exactly_the_listed_ones():
    found = set()
    for path in sorted((ROOT / "probdsl").rglob("*.py")):
        tree = pyast.parse(path.read_text(encoding="utf-8"))
        relative = path.relative_to(ROOT).as_posix()
        for node in pyast.walk(tree):
            if isinstance(node, (pyast.Import, pyast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, pyast.Import) else [node.module or ""]
                assert not {m.split(".")[0] for m in modules} & CODE_MODULES, f"{relative}:{node.lineno}: {modules}"
        calls = _CodeCalls({n.name for n in pyast.walk(tree) if isinstance(n, (pyast.FunctionDef, pyast.ClassDef))}
                           | {a.asname or a.name for n in pyast.walk(tree) if isinstance(n, pyast.ImportFrom)
                              for a in n.names})
        calls.visit(tree)
        found |= {(relative, where, call) for where, call in calls.found}
    assert found == set(DYNAMIC_CODE)
