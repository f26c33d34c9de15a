from __future__ import annotations

import psycopg
import pytest

from ingest.db import detect_flavour
from ingest.migrate import SchemaTooNew, check_schema, current_version, discover, migrate

TABLES = {"devices", "device_state", "rejects", "device_events", "uplinks", "readings", "positions",
          "readings_15m", "readings_1h", "schema_migrations"}


def _schema(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY 1, 2").fetchall()


def test_migrations_create_the_data_model_on_plain_postgresql(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        flavour = detect_flavour(conn, "auto")
        assert flavour == "postgresql"
        applied = migrate(conn, flavour)
        assert applied == [m.version for m in discover()]
        names = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace")}
        assert TABLES <= names
        check_schema(conn)


def test_migrating_twice_changes_nothing(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrate(conn, "postgresql")
        before = _schema(conn)
        assert migrate(conn, "postgresql") == []
        assert _schema(conn) == before
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(discover())


def test_database_newer_than_the_code_is_refused(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrate(conn, "postgresql")
        future = current_version(conn) + 1
        conn.execute("INSERT INTO schema_migrations (version, name, flavour) VALUES (%s, 'from_the_future', 'postgresql')",
                     (future,))
        with pytest.raises(SchemaTooNew, match="newer"):
            migrate(conn, "postgresql")
        with pytest.raises(SchemaTooNew):
            check_schema(conn)


def test_redelivered_rows_are_ignored_by_the_keys(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO readings VALUES ('2025-01-01T00:00:00Z', 'a', 'co2', 400)")
    db.execute("INSERT INTO readings VALUES ('2025-01-01T00:00:00Z', 'a', 'co2', 400) ON CONFLICT DO NOTHING")
    assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 1


def test_migrate_command_applies_schema_and_publishes_profiles_for_dashboards(
        empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from devices.registry import ProfileRegistry
    from ingest.cli import main

    monkeypatch.setenv("BEFFROI_DATABASE_URL", empty_db_url)
    assert main(["migrate"]) == 0
    assert "applied" in capsys.readouterr().out
    with psycopg.connect(empty_db_url) as conn:
        check_schema(conn)
        rows = dict(conn.execute("SELECT id, family FROM device_profiles").fetchall())
    registry = ProfileRegistry.load()
    assert rows == {p.id: p.family for p in registry}
    assert main(["migrate"]) == 0  # second run: nothing to apply, still fine
