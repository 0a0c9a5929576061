"""The CLI through typer's CliRunner, with `probdsl.api` replaced by fakes."""

import json
import os
import sys
import types

import pytest
from typer.testing import CliRunner

import probdsl
import probdsl.backends.nuts as nuts
from fake_model import EIGHT_SCHOOLS_SOURCE, eight_schools, fabricated_fit
from probdsl import __version__
from probdsl.api import fit_bound
from probdsl.cli import app
from probdsl.errors import Diagnostic, ModelError, Span
from probdsl.results.io import load_fit, write_netcdf_atomic

runner = CliRunner()


class FakeCompiled:
    def __init__(self):
        sites = eight_schools().sites
        self.resolved = types.SimpleNamespace(order=[s.name for s in sites],
                                              names={s.name: types.SimpleNamespace(role=s.role) for s in sites})
        self.bound_with = None

    def bind(self, data_paths, predicting=False):
        self.bound_with = data_paths
        return eight_schools()

    def python_source(self):
        return "def model(data, predict=False):\n    ...\n"


@pytest.fixture
def api(monkeypatch):
    """A stand-in for `probdsl.api`, installed where `from probdsl import api` finds it."""
    fake = types.SimpleNamespace(compiled=FakeCompiled())
    fake.compile_file = lambda path: fake.compiled
    fake.format_file = lambda path: "formatted\n"
    fake.predict = lambda idata, paths, seed: nuts.predict(eight_schools(), idata, seed)
    fake.fit_bound = fit_bound  # the real dispatch: it finds the backends' fakes installed by the fixtures below
    monkeypatch.setitem(sys.modules, "probdsl.api", fake)
    monkeypatch.setattr(probdsl, "api", fake, raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=false")
    monkeypatch.setenv("PROBDSL_NO_CACHE", "1")  # JAX's configuration is process-wide: no persistent cache here
    return fake


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "eight_schools.pdl"
    path.write_text(EIGHT_SCHOOLS_SOURCE)
    return path


@pytest.fixture
def fit_file(tmp_path):
    path = tmp_path / "fit.nc"
    write_netcdf_atomic(fabricated_fit(chains=2, draws=50, divergences=3), path)
    return path


@pytest.fixture
def sampler(monkeypatch):
    """Replaces NUTS by a fabricated result; records the configurations it was given."""
    configs = []

    def fake_fit_nuts(model, config):
        configs.append(config)
        return fabricated_fit(chains=config.chains, draws=config.draws, seed=config.seed or 0, saturated=4)

    monkeypatch.setattr(nuts, "fit_nuts", fake_fit_nuts)
    return configs


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"probdsl {__version__}"


def test_summary_prints_table_and_warnings(fit_file):
    result = invoke("summary", fit_file)
    assert result.exit_code == 0
    assert "theta[Choate]" in result.stdout and "r_hat" in result.stdout
    assert "warning: 3 of 100 transitions" in result.stderr


def test_summary_of_unreadable_file_is_an_error_without_traceback(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("nope")
    result = invoke("summary", bad)
    assert result.exit_code == 1
    assert "cannot read fit file" in result.stderr and "Traceback" not in result.stderr


def test_summary_of_missing_file_is_a_usage_error(tmp_path):
    assert invoke("summary", tmp_path / "absent.nc").exit_code == 2


def test_plot_default_out(fit_file):
    result = invoke("plot", fit_file, "--kind", "forest")
    assert result.exit_code == 0, result.stderr
    assert (fit_file.parent / "fit.forest.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_unknown_kind(fit_file):
    result = invoke("plot", fit_file, "--kind", "violin")
    assert result.exit_code == 2
    assert "trace, rank, forest, ppc, elbo" in result.stderr
    assert not list(fit_file.parent.glob("*.png"))


def test_fit_writes_default_output_and_passes_options(api, sampler, model_file, tmp_path):
    data = tmp_path / "d.json"
    data.write_text("{}")
    result = invoke("fit", model_file, data, "--chains", 2, "--warmup", 10, "--draws", 20, "--seed", 5,
                    "--adapt-delta", 0.9, "--max-treedepth", 8, "--init", 0.5, "--quiet")
    assert result.exit_code == 0, result.stderr
    (config,) = sampler
    assert (config.chains, config.warmup, config.draws, config.seed) == (2, 10, 20, 5)
    assert (config.adapt_delta, config.max_treedepth, config.init, config.progress) == (0.9, 8, 0.5, False)
    assert api.compiled.bound_with == [data]
    assert "mu" in result.stdout and "warning: 4 of 40 transitions" in result.stderr
    assert load_fit(tmp_path / "eight_schools.nc").attrs["seed"] == 5
    assert "--xla_force_host_platform_device_count=2" in os.environ["XLA_FLAGS"].split()
    assert "--xla_cpu_use_thunk_runtime=false" in os.environ["XLA_FLAGS"].split()


def test_fit_strict_exits_3_after_writing(api, sampler, model_file, tmp_path):
    out = tmp_path / "out.nc"
    result = invoke("fit", model_file, "--strict", "--out", out, "--chains", 1, "--draws", 10)
    assert result.exit_code == 3
    assert out.exists() and "warning:" in result.stderr


def test_fit_init_json(api, sampler, model_file, tmp_path):
    init = tmp_path / "init.json"
    init.write_text(json.dumps({"mu": 1.0, "tau": 2.0}))
    assert invoke("fit", model_file, "--init", init).exit_code == 0
    assert sampler[0].init == {"mu": 1.0, "tau": 2.0}


def test_fit_prior_end_to_end(api, model_file, tmp_path):
    result = invoke("fit", model_file, "--prior", "--draws", 30, "--seed", 1)
    assert result.exit_code == 0, result.stderr
    idata = load_fit(tmp_path / "eight_schools.prior.nc")
    assert {"prior", "prior_predictive"} <= set(idata.groups()) and idata.attrs["seed"] == 1
    assert "theta_max" in result.stdout


def test_fit_checks_output_before_sampling(api, sampler, model_file, tmp_path):
    out = tmp_path / "missing" / "fit.nc"
    result = invoke("fit", model_file, "--out", out)
    assert result.exit_code == 2 and str(out) in result.stderr
    assert sampler == []


def test_fit_model_error_is_reported_without_traceback(api, model_file):
    def broken(path):
        raise ModelError(Diagnostic("E102", "unknown name `x`", Span(str(path), 2, 1, 2, 2)))

    api.compile_file = broken
    result = invoke("fit", model_file)
    assert result.exit_code == 1
    assert "error[E102]: unknown name `x`" in result.stderr and "Traceback" not in result.stderr


def test_fit_interrupted_writes_nothing(api, model_file, tmp_path, monkeypatch):
    def interrupted(model, config):
        raise KeyboardInterrupt

    monkeypatch.setattr(nuts, "fit_nuts", interrupted)
    result = invoke("fit", model_file)
    assert result.exit_code == 130
    assert "interrupted: no output written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eight_schools.pdl"]


@pytest.mark.parametrize("args, fragment", [
    (["--method", "laplace"], "unknown method"),
    (["--method", "vi", "--guide", "mixture"], "unknown --guide"),
    (["--init", "nowhere.json"], "--init"),
    (["--adapt-delta", "1.5"], "--adapt-delta"),
    (["--chains", "0"], ""),
])
def test_fit_bad_options_exit_2(api, model_file, args, fragment):
    result = invoke("fit", model_file, *args)
    assert result.exit_code == 2 and fragment in result.stderr


def test_check(api, model_file, tmp_path):
    result = invoke("check", model_file)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ok: {model_file} (3 parameters: mu, tau, eta)"
    assert api.compiled.bound_with is None
    data = tmp_path / "d.json"
    data.write_text("{}")
    assert invoke("check", model_file, data).exit_code == 0 and api.compiled.bound_with == [data]


def test_compile_emit_python(api, model_file):
    result = invoke("compile", model_file, "--emit", "python")
    assert result.exit_code == 0 and result.stdout == "def model(data, predict=False):\n    ...\n"
    assert invoke("compile", model_file, "--emit", "stan").exit_code == 2


def test_fmt(api, model_file):
    assert invoke("fmt", model_file).stdout == "formatted\n"
    result = invoke("fmt", model_file, "--check")
    assert result.exit_code == 1 and "would reformat" in result.stderr
    assert invoke("fmt", model_file, "--check", "--write").exit_code == 2
    assert invoke("fmt", model_file, "--write").exit_code == 0
    assert model_file.read_text() == "formatted\n"
    assert invoke("fmt", model_file, "--check").exit_code == 0


def test_predict_default_out(api, tmp_path):
    fit = tmp_path / "fit.nc"
    write_netcdf_atomic(fabricated_fit(chains=2, draws=20), fit)
    new_data = tmp_path / "new.json"
    new_data.write_text("{}")
    result = invoke("predict", fit, new_data, "--seed", 9)
    assert result.exit_code == 0, result.stderr
    predicted = load_fit(tmp_path / "fit.predict.nc")
    assert predicted.attrs["seed"] == 9 and "y" in predicted.predictions
