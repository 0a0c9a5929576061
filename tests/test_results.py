"""The results layer: InferenceData building, atomic writes, summary and diagnostics, plots."""

import os

import numpy as np
import pytest

from fake_model import SCHOOLS, eight_schools, fabricated_fit
from probdsl.errors import UsageError
from probdsl.model_interface import PARAM, SiteInfo
from probdsl.results.inference_data import build_inference_data
from probdsl.results.io import check_writable, load_fit, write_netcdf_atomic, write_text_atomic
from probdsl.results.plots import plot
from probdsl.results.summary import COLUMNS, diagnose, render_summary, summarize


class FailingWrite:
    """Stands in for an InferenceData whose netCDF writing fails halfway."""

    def __init__(self, exc):
        self.exc = exc

    def to_netcdf(self, path):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise self.exc


def test_atomic_write_round_trips_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "fit.nc"
    write_netcdf_atomic(fabricated_fit(), target)
    assert os.listdir(tmp_path) == ["fit.nc"]
    back = load_fit(target)
    assert list(back.posterior.school.values) == SCHOOLS
    assert back.attrs["seed"] == 0 and "model_source" in back.attrs
    assert back.sample_stats.diverging.dtype == bool


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_existing_target_untouched(tmp_path, exc):
    target = tmp_path / "fit.nc"
    target.write_bytes(b"old")
    with pytest.raises(type(exc)):
        write_netcdf_atomic(FailingWrite(exc), target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["fit.nc"]


def test_failed_write_creates_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        write_netcdf_atomic(FailingWrite(RuntimeError("boom")), tmp_path / "new.nc")
    assert os.listdir(tmp_path) == []


def test_atomic_text_write_keeps_the_file_mode(tmp_path):
    target = tmp_path / "m.pdl"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomic("new", target)
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o640


def test_check_writable(tmp_path):
    check_writable(tmp_path / "ok.nc")
    assert os.listdir(tmp_path) == []
    with pytest.raises(UsageError, match="missing"):
        check_writable(tmp_path / "missing" / "fit.nc")
    with pytest.raises(UsageError, match="directory"):
        check_writable(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_check_writable_read_only_directory(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="fit.nc"):
            check_writable(tmp_path / "fit.nc")
    finally:
        tmp_path.chmod(0o700)


def test_load_fit_errors(tmp_path):
    garbage = tmp_path / "garbage.nc"
    garbage.write_text("not netcdf")
    with pytest.raises(Exception, match="cannot read fit file") as err:
        load_fit(garbage)
    assert err.value.exit_code == 1
    with pytest.raises(UsageError, match="does not exist"):
        load_fit(tmp_path / "absent.nc")


def test_dims_are_unique_within_a_variable_and_labelled():
    model = eight_schools()
    model.sites.append(SiteInfo("Omega", PARAM, (8, 8), ("school", "school")))
    model.sites.append(SiteInfo("odd", PARAM, (3,), ("school",)))  # size disagrees with the coords
    draws = {"Omega": np.zeros((1, 2, 8, 8)), "odd": np.zeros((1, 2, 3)), "mu": np.zeros((1, 2))}
    idata = build_inference_data(model, draws, {}, {}, {}, {}, 0)
    assert idata.posterior.Omega.dims == ("chain", "draw", "school", "school_2")
    assert list(idata.posterior.school_2.values) == SCHOOLS
    assert idata.posterior.odd.dims == ("chain", "draw", "school_3")
    assert list(idata.posterior.school_3.values) == [0, 1, 2]
    assert all(len(set(v.dims)) == len(v.dims) for v in idata.posterior.data_vars.values())


def test_summary_columns_and_plain_rendering():
    idata = fabricated_fit()
    table = summarize(idata)
    assert list(table.columns) == COLUMNS
    assert "theta[Choate]" in table.index and "mu" in table.index
    text = render_summary(table)
    assert "\x1b[" not in text
    assert text.splitlines()[0].split() == COLUMNS
    assert all(len(line) == len(text.splitlines()[0]) for line in text.splitlines())


def test_diagnose_clean_fit_has_no_warnings():
    assert diagnose(fabricated_fit(draws=1000)) == []


def test_diagnose_flags_divergences_rhat_ess_and_treedepth():
    idata = fabricated_fit(draws=1000, divergences=12, saturated=40, chain_offsets=5.0)
    warnings = diagnose(idata)
    assert len(warnings) == 4
    divergent, depth, rhat, ess = warnings
    assert "12 of 4000 transitions (0.3%)" in divergent and "divergence" in divergent
    assert "40 of 4000" in depth and "maximum tree depth (10)" in depth
    assert rhat.startswith("r_hat above 1.01")
    assert rhat.split(": ", 1)[1].split(", ") == ["mu"] + [f"theta[{s}]" for s in SCHOOLS] + ["theta_max"]
    assert "below 400" in ess and "mu" in ess


def test_diagnose_reads_max_treedepth_from_the_config():
    idata = fabricated_fit(saturated=5, max_treedepth=6)
    assert any("maximum tree depth (6)" in w for w in diagnose(idata))
    assert not any("tree depth" in w for w in diagnose(idata, max_treedepth=12))


@pytest.mark.parametrize("kind", ["trace", "forest", "rank", "ppc"])
def test_plot_writes_png(tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    plot(fabricated_fit(chains=2, draws=30), kind, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == [out.name]


def test_plot_unknown_kind_lists_the_kinds(tmp_path):
    with pytest.raises(UsageError, match="trace, rank, forest, ppc"):
        plot(fabricated_fit(), "violin", tmp_path / "x.png")


def test_model_result_attrs_are_added_to_the_root_attributes():
    class WithAttrs(type(eight_schools())):
        def result_attrs(self):
            return {"factor_levels": "{}", "model_file": "es.pdl"}

    model = eight_schools()
    model.__class__ = WithAttrs
    idata = build_inference_data(model, {"mu": np.zeros((1, 2))}, {}, {}, {}, {}, 0)
    assert idata.attrs["model_file"] == "es.pdl" and idata.attrs["model_source"] == model.source


def test_summarize_picks_the_draws_a_file_has():
    import arviz as az

    from probdsl.errors import ProbdslError

    fit = fabricated_fit(chains=2, draws=30)
    only_predictive = az.InferenceData(posterior_predictive=fit.posterior_predictive)
    assert list(summarize(only_predictive).index[:1]) == ["y[Choate]"]
    with pytest.raises(ProbdslError, match="nothing to summarise"):
        summarize(az.InferenceData(observed_data=fit.observed_data))
