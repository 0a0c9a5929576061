"""The persistent JAX compilation cache of the CLI, and `fit --dense-mass`.

JAX's configuration is process-wide, so only fits that do not enable the cache run in
this process; fits that use it are subprocesses.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import probdsl.backends.nuts as nuts
from fake_model import fabricated_fit
from probdsl.backends.jax_cache import CompilationCacheWarning, default_cache_dir, enable_compilation_cache
from probdsl.cli import app
from probdsl.results.inference_data import recorded_config
from probdsl.results.io import load_fit

ROOT = Path(__file__).parent.parent
EIGHT_SCHOOLS = [str(ROOT / "examples/eight_schools" / name) for name in ("eight_schools.pdl", "eight_schools.json")]
TINY = ["--chains", "1", "--warmup", "30", "--draws", "30", "--seed", "1", "--quiet"]


@pytest.fixture
def cli_env(monkeypatch):
    """In-process `fit` with sampling faked (its compilations would outlive the test); the
    environment `fit` changes is restored, and no `--no-cache` comes from the outside."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    monkeypatch.delenv("PROBDSL_NO_CACHE", raising=False)
    monkeypatch.setattr(nuts, "fit_nuts", lambda model, config: fabricated_fit(chains=config.chains, draws=config.draws))
    return monkeypatch


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("PROBDSL_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "probdsl" / "jax"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "probdsl" / "jax"
    monkeypatch.setenv("PROBDSL_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "jax"


def test_unusable_directory_warns_and_returns_none(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.warns(CompilationCacheWarning, match="cannot write to"):
        assert enable_compilation_cache(tmp_path / "file" / "jax") is None


def test_second_run_is_served_from_the_cache_dense_mass_is_recorded(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "es.nc"
    env = {**os.environ, "PROBDSL_CACHE_DIR": str(cache)}
    env.pop("PROBDSL_NO_CACHE", None)

    def fit():
        result = subprocess.run([sys.executable, "-m", "probdsl", "fit", *EIGHT_SCHOOLS, *TINY, "--dense-mass", "--out", out],
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return {p.name for p in (cache / "jax").iterdir()}

    first = fit()
    assert any(name.startswith("jit__fori_collect") for name in first)  # the sampler itself is cached
    assert fit() == first  # every compilation of the second run was a cache hit
    idata = load_fit(out)
    assert recorded_config(idata)["dense_mass"] is True
    assert idata.posterior["theta"].shape == (1, 30, 8)


def test_unwritable_cache_dir_warns_and_fits(cli_env, tmp_path):
    (tmp_path / "file").write_text("")
    cli_env.setenv("PROBDSL_CACHE_DIR", str(tmp_path / "file" / "jax"))
    result = CliRunner().invoke(app, ["fit", *EIGHT_SCHOOLS, *TINY, "--out", str(tmp_path / "es.nc")])
    assert result.exit_code == 0, result.output
    assert "warning: compilation cache disabled: cannot write to" in result.stderr
    assert "posterior" in load_fit(tmp_path / "es.nc").groups()


@pytest.mark.parametrize("how", ["--no-cache", "PROBDSL_NO_CACHE"])
def test_no_cache_leaves_the_directory_alone(cli_env, tmp_path, how):
    cache = tmp_path / "cache"
    cli_env.setenv("PROBDSL_CACHE_DIR", str(cache))
    if how == "PROBDSL_NO_CACHE":
        cli_env.setenv("PROBDSL_NO_CACHE", "1")
    flags = ["--no-cache"] if how == "--no-cache" else []
    result = CliRunner().invoke(app, ["fit", *EIGHT_SCHOOLS, *TINY, *flags, "--out", str(tmp_path / "es.nc")])
    assert result.exit_code == 0, result.output
    assert not cache.exists()


@pytest.mark.parametrize("turned_off", [False, True])
def test_parser_tables_are_cached_in_the_user_cache(tmp_path, turned_off):
    env = {**os.environ, "PROBDSL_CACHE_DIR": str(tmp_path), "PROBDSL_NO_CACHE": "1" if turned_off else ""}
    compile_model = [sys.executable, "-c", f"import probdsl; probdsl.compile({EIGHT_SCHOOLS[0]!r})"]
    subprocess.run(compile_model, env=env, check=True, timeout=120)
    tables = list(tmp_path.glob("grammar/pdl-lark-*.tables"))
    assert len(tables) == (0 if turned_off else 1)
