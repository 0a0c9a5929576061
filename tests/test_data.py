"""The data layer: reading CSV/JSON/Python data and binding it to declarations."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from probdsl.data.bind import DataDecl, bind
from probdsl.data.loader import load_data
from probdsl.errors import DataError, Span
from probdsl.sema.types import INT_T, REAL_T, Size, array, matrix, vector

N, J, K = Size("N"), Size("J"), Size("K")
SPAN = Span("model.pdl", 4, 1, 4, 20)


def decl(name, type_, **kw):
    return DataDecl(name, type_, SPAN, **kw)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def bind_error(decls, sources, **kw) -> str:
    with pytest.raises(DataError) as info:
        bind(decls, load_data(sources), **kw)
    return str(info.value)


def load_error(sources) -> str:
    with pytest.raises(DataError) as info:
        load_data(sources)
    return str(info.value)


# ---------------------------------------------------------------------- loading


def test_merge_csv_and_json(tmp_path):
    csv_path = write(tmp_path, "data.csv", "y,x\n1.5,1\n2.5,2\n3.5,3\n")
    json_path = write(tmp_path, "data.json", json.dumps({"J": 2, "sigma": [1, 2.5], "M": [[1, 2], [3, 4]]}))
    raw = load_data([csv_path, json_path])
    assert raw["y"].values.dtype == np.float64 and raw["x"].values.dtype == np.int64
    assert raw["y"].kind == "csv" and raw["y"].header_line == 1 and raw["x"].column == 2
    assert list(raw["y"].cells) == ["1.5", "2.5", "3.5"]
    assert raw["J"].values.shape == () and raw["J"].kind == "json"
    assert raw["sigma"].values.dtype == np.float64 and raw["M"].values.shape == (2, 2)
    b = bind([decl("J", INT_T), decl("y", vector(N)), decl("x", array(INT_T, N)), decl("M", matrix(J, J)),
              decl("sigma", vector(J))], raw)
    assert b.sizes == {"J": 2, "N": 3}
    assert b.size_origin["N"] == f"from the length of y in {csv_path}"
    assert b.size_origin["J"] == f"given as J in {json_path}"
    assert b.values["x"].dtype == np.int64 and b.values["y"].dtype == np.float64
    assert b.values["M"].dtype == np.float64  # ints accepted for reals
    assert b.sources == {"J": json_path, "y": csv_path, "x": csv_path, "M": json_path, "sigma": json_path}


def test_python_sources_and_dataframe():
    frame = pd.DataFrame({"y": [1.0, 2.0], "g": ["a", "b"]})
    raw = load_data([frame, {"N": 2, "z": np.array([1, 2]), "names": ["u", "v"]}])
    assert raw["y"].kind == "python" and raw["z"].values.dtype == np.int64
    assert raw["names"].values.dtype == object
    b = bind([decl("N", INT_T), decl("y", vector(N)), decl("g", array(INT_T, N), is_factor=True)], raw)
    assert b.levels["g"] == ["a", "b"] and list(b.values["g"]) == [1, 2]


def test_name_given_twice_with_different_values(tmp_path):
    a = write(tmp_path, "a.csv", "y\n1\n2\n")
    b = write(tmp_path, "b.json", '{"y": [1, 3]}')
    load_data([a, write(tmp_path, "same.json", '{"y": [1, 2]}')])  # same values: fine
    msg = load_error([a, b])
    assert "a.csv" in msg and "b.json" in msg and "`y`" in msg


def test_factor_string_labels_sorted(tmp_path):
    path = write(tmp_path, "d.csv", "county\nHennepin\nAnoka\nHennepin\nwright\nBlue Earth\n")
    b = bind([decl("county", array(INT_T, N), is_factor=True)], load_data(path))
    assert b.levels["county"] == ["Anoka", "Blue Earth", "Hennepin", "wright"]
    assert b.values["county"].tolist() == [3, 1, 3, 4, 2]
    assert b.sizes == {"county": 4, "N": 5}


def test_factor_integer_labels_sorted_numerically(tmp_path):
    path = write(tmp_path, "d.csv", "g\n10\n2\n1\n10\n")
    b = bind([decl("g", array(INT_T, N), is_factor=True)], load_data(path))
    assert b.levels["g"] == ["1", "2", "10"]
    assert b.values["g"].tolist() == [3, 2, 1, 3]


def test_known_levels_for_new_data(tmp_path):
    path = write(tmp_path, "new.csv", "county\nb\na\n")
    decls = [decl("county", array(INT_T, N), is_factor=True)]
    b = bind(decls, load_data(path), sizes={"county": 3}, known_levels={"county": ["a", "b", "c"]})
    assert b.values["county"].tolist() == [2, 1] and b.sizes["county"] == 3 and b.levels["county"] == ["a", "b", "c"]
    bad = write(tmp_path, "bad.csv", "county\nb\nzz\n")
    msg = bind_error(decls, bad, known_levels={"county": ["a", "b", "c"]})
    assert "bad.csv" in msg and "`county`" in msg and "row 2 (line 3)" in msg and "'zz'" in msg
    assert " 3 | zz\n" in msg and "^^ unseen level" in msg


def test_matrix_from_numbered_columns(tmp_path):
    path = write(tmp_path, "d.csv", "y,X.2,X.1,X.3\n0,2,1,3\n1,5,4,6\n")
    raw = load_data(path)
    assert raw["X"].values.tolist() == [[1, 2, 3], [4, 5, 6]] and raw["X.2"].values.tolist() == [2, 5]
    b = bind([decl("X", matrix(N, K)), decl("y", vector(N))], raw)
    assert b.values["X"].shape == (2, 3) and b.sizes == {"N": 2, "K": 3}
    msg = bind_error([decl("X", matrix(N, K))], write(tmp_path, "e.csv", "X.1,X.2\n1,2\n3,x\n"))
    assert "column `X.2` of" in msg and "row 2 (line 3)" in msg and "'x' is not a number" in msg


def test_size_inference_and_conflicts(tmp_path):
    csv_path = write(tmp_path, "d.csv", "y,x\n1,1\n2,2\n3,3\n")
    json_path = write(tmp_path, "d.json", '{"N": 4, "z": [1, 2]}')
    msg = bind_error([decl("N", INT_T), decl("y", vector(N))], [csv_path, json_path])
    assert "has 3 rows" in msg and "vector[N] y" in msg and "N = 4 (given as N in" in msg and "d.json" in msg
    msg = bind_error([decl("y", vector(N)), decl("z", vector(N))], [csv_path, json_path])
    assert "shape (2,)" in msg and "N = 3 (from the length of y in" in msg
    msg = bind_error([decl("y", vector(N))], csv_path, sizes={"N": 5})
    assert "N = 5 (passed in `sizes`)" in msg
    b = bind([decl("N", INT_T), decl("y", vector(N))], load_data(csv_path))  # N inferred from y
    assert b.values["N"] == 3 and b.values["N"].dtype == np.int64


def test_explicit_size_conflicts_with_given_size(tmp_path):
    path = write(tmp_path, "d.json", '{"J": 2}')
    msg = bind_error([decl("J", INT_T), decl("v", vector(J))], path, sizes={"J": 3})
    assert "size `J` is 2 given as J in" in msg and "d.json" in msg and "J = 3 passed in `sizes`" in msg
    msg = bind_error([decl("J", INT_T), decl("v", vector(J))], write(tmp_path, "neg.json", '{"J": -1, "v": []}'))
    assert "a size cannot be negative" in msg


def test_literal_size_and_rank(tmp_path):
    path = write(tmp_path, "d.json", '{"v": [1, 2, 3], "M": [1, 2]}')
    msg = bind_error([decl("v", vector(Size(None, 2)))], path)
    assert "vector[2] v" in msg and "shape (3,)" in msg
    msg = bind_error([decl("M", matrix(N, K))], path)
    assert "2 dimensions" in msg and '"M"' in msg  # excerpt of the key


# ---------------------------------------------------------------------- CSV format errors


@pytest.mark.parametrize("text, expected", [
    ("", "is empty"),
    ("a,b\n", "has a header but no rows"),
    ("a,b,a\n1,2,3\n", "two columns named `a`"),
    ("a,b\n1,2\n1,2,3\n", "line 3: row 2 has 3 fields but the header has 2"),
    ("a,b\n1\n", "line 2: row 1 has 1 field but the header has 2"),
    ("a;b\n1;2\n", "looks like it is separated by ';': probdsl reads comma-separated files"),
    ("a\tb\n1\t2\n", "looks like it is separated by a tab"),
])
def test_malformed_csv(tmp_path, text, expected):
    msg = load_error(write(tmp_path, "bad.csv", text))
    assert "bad.csv" in msg and expected in msg


def test_csv_bom_blank_lines_and_quotes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes('\ufeffname,y\n"Smith, J",1\n\nLee,abc\n'.encode("utf-8"))
    raw = load_data(str(path))
    assert raw.names() == ["name", "y"] and raw["name"].values.tolist() == ["Smith, J", "Lee"]
    msg = bind_error([decl("y", vector(N))], str(path))
    assert "row 2 (line 4)" in msg and " 4 | Lee,abc\n" in msg and "|     ^^^ not a number" in msg


def test_missing_cells_recorded(tmp_path):
    raw = load_data(write(tmp_path, "d.csv", "y,g\n1,a\nNA,\n3,c\n,NaN\n"))
    assert raw["y"].missing_rows == [2, 4] and raw["g"].missing_rows == [2, 4]
    assert np.isnan(raw["y"].values[1])


# ---------------------------------------------------------------------- JSON format errors


def test_malformed_json(tmp_path):
    msg = load_error(write(tmp_path, "bad.json", '{\n  "a": 1,\n  "b": [1, 2,]\n}'))
    assert "bad.json:3:" in msg and "not valid JSON" in msg


def test_ragged_json(tmp_path):
    msg = load_error(write(tmp_path, "bad.json", '{"ok": 1,\n "M": [[1, 2], [3]]}'))
    assert "bad.json:2:2" in msg and "`M`" in msg and "not rectangular" in msg


def test_json_special_values_are_non_finite(tmp_path):
    path = write(tmp_path, "d.json", '{"v": [1, "NaN", "Inf"]}')
    msg = bind_error([decl("v", vector(N))], path)
    assert "`v[2]`" in msg and "`v[3]`" in msg and "not a finite number" in msg


# ---------------------------------------------------------------------- binding errors


def test_missing_name_suggests(tmp_path):
    msg = bind_error([decl("y", vector(N))], write(tmp_path, "d.csv", "yy,x\n1,2\n"))
    assert "`y` is declared as data (model.pdl:4:1) but no data file has a column or key `y`" in msg
    assert "`yy`, `x`" in msg and "did you mean `yy`?" in msg


def test_text_in_numeric_column(tmp_path):
    path = write(tmp_path, "data.csv", "x,y\n1,2\n1,3\n1,4\n1,5\n1,abc\n")
    msg = bind_error([decl("y", vector(N))], path)
    assert "column `y` of" in msg and "data.csv, row 5 (line 6): 'abc' is not a number" in msg
    assert " 6 | 1,abc\n" in msg and "   |   ^^^ not a number" in msg
    assert "declared as `vector[N] y` at model.pdl:4:1" in msg


def test_real_for_int(tmp_path):
    path = write(tmp_path, "d.csv", "n\n1\n2.5\n3.0\n")
    msg = bind_error([decl("n", array(INT_T, N))], path)
    assert "row 2 (line 3): 2.5 is not an integer" in msg and "row 3 (line 4): 3.0 is not an integer" in msg
    msg = bind_error([decl("n", array(INT_T, N))], {"n": [1.0, 2.5]})
    assert "`n[2]` in <dict>: 2.5 is not an integer" in msg
    assert bind([decl("n", array(INT_T, N))], load_data({"n": np.array([1.0, 2.0])})).values["n"].dtype == np.int64


def test_missing_and_non_finite(tmp_path):
    path = write(tmp_path, "d.csv", "y\n1\n\nNA\ninf\n")
    raw = load_data(path)
    msg = bind_error([decl("y", vector(N))], path)
    assert raw["y"].missing_rows == [2]  # the blank line is skipped, not a missing cell
    assert "column `y` of" in msg and "row 2 (line 4): missing value ('NA'); only data on the left of a `~` may have missing values" in msg
    assert "row 3 (line 5): inf is not a finite number" in msg
    msg = bind_error([decl("y", vector(N))], pd.DataFrame({"y": [1.0, np.nan]}))
    assert "column `y` of the DataFrame, row 2: missing value" in msg


def test_bounds(tmp_path):
    path = write(tmp_path, "d.csv", "y,p\n1,0.5\n-1,1.5\n2,1\n")
    msg = bind_error([decl("y", vector(N), lower=0), decl("p", vector(N), lower=0, upper=1)], path)
    assert "column `y` of" in msg and "row 2 (line 3): -1 is below the lower bound 0 of `y`" in msg
    assert "row 2 (line 3): 1.5 is above the upper bound 1 of `p`" in msg and "   |    ^^^ above 1" in msg
    assert "row 3" not in msg  # bounds are inclusive


def test_many_bad_cells_are_counted(tmp_path):
    path = write(tmp_path, "d.csv", "y\n" + "x\n" * 10)
    msg = bind_error([decl("y", vector(N))], path)
    assert msg.count("is not a number") == 3 and "and 7 more values of `y` like this" in msg


def test_all_problems_in_one_error(tmp_path):
    path = write(tmp_path, "d.csv", "a,b\n1,x\n-1,2\n")
    with pytest.raises(DataError) as info:
        bind([decl("a", vector(N), lower=0), decl("b", vector(N)), decl("c", REAL_T)], load_data(path))
    assert sorted(info.value.codes) == ["E301", "E302", "E308"]


def test_scalar_from_csv(tmp_path):
    assert bind([decl("s", REAL_T)], load_data(write(tmp_path, "one.csv", "s\n2.5\n"))).values["s"] == 2.5
    msg = bind_error([decl("s", REAL_T)], write(tmp_path, "two.csv", "s\n1\n2\n"))
    assert "two.csv" in msg and "`s`" in msg and "only if the column has exactly one row" in msg


@pytest.mark.parametrize("structure, type_, value, expected", [
    ("simplex", vector(K), [0.5, 0.6], "sum to 1.1"),
    ("simplex", vector(K), [1.5, -0.5], "element 2 is negative"),
    ("ordered", vector(K), [1, 3, 2], "element 3 (2) is not greater than element 2 (3)"),
    ("positive_ordered", vector(K), [0, 1], "element 1 (0) is not positive"),
    ("corr_matrix", matrix(K, K), [[1, 0.5], [0.4, 1]], "not symmetric"),
    ("corr_matrix", matrix(K, K), [[2, 0], [0, 1]], "diagonal element [1, 1] is 2, not 1"),
    ("cov_matrix", matrix(K, K), [[1, 2], [2, 1]], "not positive definite"),
    ("cholesky_factor_corr", matrix(K, K), [[1, 0.1], [0.6, 0.8]], "not lower-triangular"),
    ("cholesky_factor_corr", matrix(K, K), [[1, 0], [0.5, 0.5]], "row 2 has length"),
    ("cholesky_factor_corr", matrix(K, K), [[1, 0], [1, 0]], "diagonal element [2, 2] is 0, not positive"),
])
def test_structures(tmp_path, structure, type_, value, expected):
    path = write(tmp_path, "s.json", json.dumps({"v": value}))
    msg = bind_error([decl("v", type_, structure=structure)], path)
    assert "s.json" in msg and f"not a valid {structure}" in msg and expected in msg


def test_valid_structures(tmp_path):
    values = {"s": [0.25, 0.75], "o": [-1, 2], "c": [[1, 0.3], [0.3, 1]], "L": [[1, 0], [0.6, 0.8]],
              "a": [[0.5, 0.5], [1, 0]]}
    decls = [decl("s", vector(K), structure="simplex"), decl("o", vector(K), structure="ordered"),
             decl("c", matrix(K, K), structure="corr_matrix"), decl("L", matrix(K, K), structure="cholesky_factor_corr"),
             decl("a", array(vector(K), J), structure="simplex")]
    b = bind(decls, load_data(values))
    assert b.sizes == {"K": 2, "J": 2}
    msg = bind_error(decls[-1:], {"a": [[0.5, 0.5], [1, 0.5]]})
    assert "`a[2]` in <dict> is not a valid simplex" in msg


def test_large_csv_is_fast(tmp_path):
    n = 100_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.normal(size=n), "x": rng.integers(0, 9, n),
                          "county": rng.choice(["Anoka", "Hennepin", "Ramsey"], n)})
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    start = time.perf_counter()
    b = bind([decl("y", vector(N)), decl("x", array(INT_T, N), lower=0), decl("county", array(INT_T, N), is_factor=True)],
             load_data(str(path)))
    assert time.perf_counter() - start < 5
    assert b.sizes == {"N": n, "county": 3} and np.allclose(b.values["y"], frame["y"])
