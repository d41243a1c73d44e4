"""``vectra query`` output scripts can use: CSV by default into a pipe, JSON and Parquet on request or by the output
file's extension, a table that never cuts or folds a value, and one-line errors for empty SQL, bad SQL, bad limits.

Hostile values (hypothesis: quotes, commas, newlines, markup, any Unicode) must come back exactly from every format.
"""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from capture_agent.cli import main
from capture_agent.errors import VectraError
from vectra_pipeline import schema, storage
from vectra_pipeline.commands.query import chosen_format, print_rows


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with one (empty) table: the warehouse views exist, the values come from SQL literals."""
    data = tmp_path_factory.mktemp("query")
    storage.write_table(data, "frames", "2025-12-10", schema.empty("frames"))
    return data


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["query", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(TEXT, min_size=1, max_size=4))
def test_hostile_text_comes_back_exactly_from_csv_and_json(root, capsys, values):
    sql = "SELECT " + ", ".join(f"{_literal(v)} AS c{i}" for i, v in enumerate(values))
    code, out, err = _run(capsys, sql, "--data", str(root))  # stdout is not a terminal here: CSV
    assert code == 0 and err == ""
    assert list(csv.reader(io.StringIO(out, newline=""))) == [[f"c{i}" for i in range(len(values))], values]
    code, out, _ = _run(capsys, sql, "--format", "json", "--data", str(root))
    assert code == 0 and json.loads(out) == [{f"c{i}": v for i, v in enumerate(values)}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(st.characters(exclude_characters="\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
                                   exclude_categories=("Cs", "Cc")), min_size=1, max_size=60))
def test_a_table_shows_every_value_whole_on_one_line_even_on_a_narrow_terminal(value):
    names = [f"a_long_column_name_{i}" for i in range(8)]
    buffer = io.StringIO()
    print_rows(Console(file=buffer, width=60, color_system=None), names, [tuple(value for _ in names)])
    lines = buffer.getvalue().splitlines()
    header = next(line for line in lines if names[0] in line)
    assert all(name in header for name in names)  # no header cut to "a_long_col…"
    row = next(line for line in lines if line.startswith("│"))
    assert row.count(value) >= len(names)  # the terminal may wrap a long line; the line itself holds every value


def test_csv_is_the_default_into_a_pipe_and_a_table_on_a_terminal():
    assert chosen_format(None, None, stdout_is_terminal=False) == "csv"
    assert chosen_format(None, None, stdout_is_terminal=True) == "table"
    assert chosen_format("json", None, stdout_is_terminal=True) == "json"
    with pytest.raises(VectraError, match="binary"):
        chosen_format("parquet", None, stdout_is_terminal=True)


def test_nested_binary_null_and_non_finite_values_in_every_format(root, capsys, tmp_path):
    sql = ("SELECT [1, 2] AS list, {'a': 'x', 'b': NULL} AS struct, 'nan'::DOUBLE AS nan, '-inf'::DOUBLE AS ninf, "
           "'\\x01\\xff'::BLOB AS blob, NULL::VARCHAR AS missing, true AS flag, DATE '2025-12-10' AS day")
    code, out, _ = _run(capsys, sql, "--data", str(root))
    assert code == 0
    header, row = list(csv.reader(io.StringIO(out, newline="")))
    assert dict(zip(header, row, strict=True)) == {
        "list": "[1, 2]", "struct": '{"a": "x", "b": null}', "nan": "NaN", "ninf": "-Infinity", "blob": "01ff",
        "missing": "", "flag": "true", "day": "2025-12-10",
    }
    code, out, _ = _run(capsys, sql, "--format", "json", "--data", str(root))
    assert json.loads(out) == [{"list": [1, 2], "struct": {"a": "x", "b": None}, "nan": "NaN", "ninf": "-Infinity",
                                "blob": "01ff", "missing": None, "flag": True, "day": "2025-12-10"}]
    target = tmp_path / "out.parquet"
    code, _, err = _run(capsys, sql, "--output", str(target), "--data", str(root))
    assert code == 0 and err.strip() == f"vectra query: 1 row written to {target} (parquet)"
    table = pq.read_table(target)
    assert table.column("list").to_pylist() == [[1, 2]] and table.column("blob").to_pylist() == [b"\x01\xff"]


def test_output_files_by_extension_and_limit(root, capsys, tmp_path):
    sql = "SELECT range AS n FROM range(250)"
    for name, check in (
        ("all.csv", lambda p: p.read_text().splitlines() == ["n", *map(str, range(250))]),
        ("all.json", lambda p: [r["n"] for r in json.loads(p.read_text())] == list(range(250))),
        ("all.parquet", lambda p: pq.read_table(p).column("n").to_pylist() == list(range(250))),
    ):
        assert _run(capsys, sql, "--output", str(tmp_path / name), "--data", str(root))[0] == 0
        assert check(tmp_path / name), name
    code, out, _ = _run(capsys, sql, "--limit", "3", "--data", str(root))
    assert code == 0 and out.splitlines() == ["n", "0", "1", "2"]
    code, out, _ = _run(capsys, sql, "--format", "table", "--data", str(root))  # a table shows 100 rows by default
    shown = [line.strip("│ ") for line in out.splitlines() if line.startswith("│")]
    assert shown == [str(n) for n in range(100)] and out.splitlines()[-1] == "250 rows (showing 100)"
    code, out, _ = _run(capsys, "SELECT 1 AS n WHERE false", "--format", "json", "--data", str(root))
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["", "--data", "{root}"], "no SQL given"),
        (["   \n ", "--data", "{root}"], "no SQL given"),
        (["SELEC 1", "--data", "{root}"], "query failed: Parser Error"),
        (["SELECT nope FROM frames", "--data", "{root}"], "query failed: Binder Error"),
        (["SELECT 1", "--limit", "-5", "--data", "{root}"], "--limit -5: give a positive number of rows"),
        (["SELECT 1", "--limit", "0", "--data", "{root}"], "--limit 0"),
        (["SELECT 1", "--output", "{root}/no/such/dir/x.csv", "--data", "{root}"], "cannot write"),
        (["SELECT 1", "--data", "{root}/empty"], "run `vectra build"),
    ],
)
def test_bad_input_is_one_line(root, capsys, argv, says):
    code, out, err = _run(capsys, *(a.format(root=root) for a in argv))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_a_failure_while_fetching_is_one_line_too(root, capsys):
    code, _, err = _run(capsys, "SELECT CAST(CASE WHEN range < 3000 THEN '1' ELSE 'x' END AS INTEGER) AS n FROM range(5000)",
                        "--data", str(root))
    assert code == 2 and err.count("\n") == 1 and "query failed: Conversion Error" in err
