"""The macro expander reproduces Grafana's PostgreSQL expansions (cases from Grafana's documentation and tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.macros import (
    ALL,
    MacroError,
    TimeRange,
    Variable,
    expand,
    format_interval,
    grafana_interval,
    interpolate_macros,
)

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
RANGE = TimeRange(FROM, FROM + timedelta(minutes=5))


@pytest.mark.parametrize(("sql", "expected"), [
    ("select $__time(time_column)", 'select time_column AS "time"'),
    ("select $__timeEpoch(time_column)", 'select extract(epoch from time_column) as "time"'),
    ("WHERE $__timeFilter(time_column)", "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
    ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
    ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
    ("SELECT $__timeGroup(time_column,'5m')", "SELECT floor(extract(epoch from time_column)/300)*300"),
    ("SELECT $__timeGroupAlias(time_column,'5m')", 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'),
    ("$__timeGroup(time_column , '5m')", "floor(extract(epoch from time_column)/300)*300"),
    # before Grafana 5.3 $__timeGroup added the alias; a comma right after the macro keeps that behaviour
    ("SELECT $__timeGroup(time_column,'5m'), value", 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'),
    ("SELECT $__timeGroup(time_column,'5m') as time, value", "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"),
    ("select $__unixEpochFilter(time)", f"select time >= {int(FROM.timestamp())} AND time <= {int(FROM.timestamp()) + 300}"),
    ("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
     'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'),
    ("select $__unixEpochNanoFrom()", f"select {int(FROM.timestamp()) * 10**9}"),
])
def test_macros_expand_as_grafana_does(sql: str, expected: str) -> None:
    assert interpolate_macros(sql, RANGE) == expected


@pytest.mark.parametrize(("interval", "expected"), [
    ("'5m'", "time_bucket('300.000s',time_column)"),
    ("'12d'", "time_bucket('1036800.000s',time_column)"),
    ("'20ms'", "time_bucket('0.020s',time_column)"),
])
def test_time_group_uses_time_bucket_with_the_timescaledb_flag(interval: str, expected: str) -> None:
    assert interpolate_macros(f"GROUP BY $__timeGroup(time_column , {interval})", RANGE, timescaledb=True) == \
        f"GROUP BY {expected}"


def test_fractional_seconds_are_written_like_go_rfc3339nano() -> None:
    start = datetime(1960, 2, 1, 7, 0, 0, 500000, tzinfo=UTC)
    sql = interpolate_macros("$__timeFilter(t)", TimeRange(start, start + timedelta(days=1)))
    assert sql == "t BETWEEN '1960-02-01T07:00:00.5Z' AND '1960-02-02T07:00:00.5Z'"


@pytest.mark.parametrize("sql", ["$__timeFilter()", "$__timeGroup(t)", "$__nosuchmacro(t)", "$__timeGroup(t, 'x')"])
def test_bad_macros_are_errors(sql: str) -> None:
    with pytest.raises(MacroError):
        interpolate_macros(sql, RANGE)


def test_macro_arguments_stop_at_the_first_parenthesis() -> None:
    # Grafana's macro pattern takes everything up to the first ")": a function call inside breaks the query
    sql = interpolate_macros("$__timeFilter(coalesce(a, b))", RANGE)
    assert sql.startswith("coalesce(a BETWEEN") and sql.endswith("'2018-04-12T18:05:00Z')")


SITE = Variable("site", values=("a", "b'c"), multi=True, include_all=True, all_value="'__all'")
ONE = Variable("one", values=("x'y",), multi=False, include_all=False)
NOALL = Variable("noall", values=(ALL,), multi=True, include_all=True, options=("p", "q"))


@pytest.mark.parametrize(("sql", "expected"), [
    ("IN ($site)", "IN ('a','b''c')"),                        # multi: quoted by the SQL data source
    ("IN (${site})", "IN ('a','b''c')"),
    ("IN (${site:sqlstring})", "IN ('a','b''c')"),
    ("IN ([[site]])", "IN ('a','b''c')"),
    ("${site:csv}", "a,b'c"),
    ("${site:singlequote}", "'a','b\\'c'"),
    ("${site:pipe}", "a|b'c"),
    ("name = '$one'", "name = 'x''y'"),                        # single value: quotes doubled, none added
    ("name = ${one:sqlstring}", "name = 'x''y'"),
    ("IN (${noall:sqlstring})", "IN ('p','q')"),               # All without a custom all value: every option
    ("$unknown", "$unknown"),                                  # not a variable: left as it is
])
def test_template_variables_are_quoted_as_grafana_quotes_them(sql: str, expected: str) -> None:
    got = expand(sql, time_range=RANGE, interval=timedelta(minutes=1), variables=[SITE, ONE, NOALL])
    assert got == expected


def test_custom_all_value_is_inserted_verbatim_even_with_a_format() -> None:
    everything = Variable("site", values=(ALL,), all_value="'__all'", options=("a",))
    got = expand("('__all' IN (${site:sqlstring}) OR s IN (${site:sqlstring}))", time_range=RANGE,
                 interval=timedelta(minutes=1), variables=[everything])
    assert got == "('__all' IN ('__all') OR s IN ('__all'))"


def test_interval_and_range_variables() -> None:
    got = expand("$__interval_ms $__interval $__range_s ${__from:date:seconds} $__timeGroupAlias(t, $__interval)",
                 time_range=RANGE, interval=timedelta(minutes=2), variables=[])
    assert got == (f"120000 2m 300 {int(FROM.timestamp())} floor(extract(epoch from t)/120)*120 AS \"time\"")


@pytest.mark.parametrize(("span", "expected"), [
    (timedelta(hours=1), "5s"), (timedelta(hours=24), "1m"), (timedelta(days=7), "10m"),
    (timedelta(days=30), "30m"), (timedelta(days=365), "12h"),
])
def test_grafana_interval_for_a_thousand_points(span: timedelta, expected: str) -> None:
    assert format_interval(grafana_interval(span, 1000)) == expected


def test_epoch_bounds_are_whole_seconds_as_the_server_writes_them() -> None:
    # the SQL engine's Interpolate: Unix seconds of the range, so a range length is an integer subtraction
    start = datetime(2018, 4, 12, 18, 0, 0, 750000, tzinfo=UTC)
    got = expand("$__unixEpochTo() - $__unixEpochFrom() > 172800", time_range=TimeRange(start, start + timedelta(days=2)),
                 interval=timedelta(minutes=2), variables=[])
    assert got == f"{int(start.timestamp()) + 172800} - {int(start.timestamp())} > 172800"
