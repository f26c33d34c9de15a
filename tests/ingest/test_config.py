from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ingest.config import SETTINGS, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "beffroi.example.toml"


def test_every_setting_is_documented_in_the_example_file_with_its_default() -> None:
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    documented = {(section, key) for section, table in data.items() for key in table}
    declared = {(s.section, s.key) for s in SETTINGS}
    assert documented == declared, f"undocumented: {declared - documented}; unknown: {documented - declared}"
    for s in SETTINGS:
        assert data[s.section][s.key] == s.default, f"{s.section}.{s.key}: example shows another default"
        # a `## why` comment line right above the key
        assert re.search(rf"^## .+\n{re.escape(s.key)} = ", text, re.M), f"{s.section}.{s.key} has no comment"


def test_the_example_file_loads_as_is() -> None:
    assert load_config(EXAMPLE, environ={}).get("mqtt", "url") == "mqtt://127.0.0.1:1883"


def test_defaults_point_at_local_services() -> None:
    cfg = load_config(None, environ={})
    assert "127.0.0.1" in cfg.get("database", "url") and "127.0.0.1" in cfg.get("mqtt", "url")


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    f = tmp_path / "b.toml"
    f.write_text('[mqtt]\nurl = "mqtt://broker:1883"\n[ingest]\nbatch_max_rows = 10\n')
    cfg = load_config(f, environ={"BEFFROI_MQTT_URL": "mqtts://u:p@other:8884", "BEFFROI_INGEST_BATCH_MAX_AGE_MS": "50"})
    assert cfg.get("mqtt", "url") == "mqtts://u:p@other:8884"
    assert cfg.get("ingest", "batch_max_rows") == 10
    assert cfg.get("ingest", "batch_max_age_ms") == 50


@pytest.mark.parametrize(("content", "env", "message"), [
    ('[mqtt]\nurl = "http://x"\n', {}, r"mqtt\.url .*mqtt:// or mqtts://"),
    ('[mqtt]\nnope = 1\n', {}, r"unknown key mqtt\.nope"),
    ('[nowhere]\nx = 1\n', {}, r"unknown section \[nowhere\]"),
    ('[ingest]\nbatch_max_rows = "many"\n', {}, r"ingest\.batch_max_rows"),
    ('[ingest]\nbatch_max_rows = 0\n', {}, r"ingest\.batch_max_rows .*greater than 0"),
    ('', {"BEFFROI_INGEST_BATCH_MAX_ROWS": "x"}, r"ingest\.batch_max_rows \(from environment"),
    ('', {"BEFFROI_NOT_A_KEY": "x"}, r"BEFFROI_NOT_A_KEY is not a Beffroi setting"),
    ('[database]\nurl = "mysql://x"\n', {}, r"database\.url"),
    ('not toml [', {}, r"not valid TOML"),
])
def test_a_wrong_key_names_the_key_and_the_file(tmp_path: Path, content: str, env: dict[str, str],
                                                 message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(f, environ=env)
    if not env:
        assert str(f) in str(info.value)


def test_missing_file_is_reported() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/beffroi.toml", environ={})


def test_password_in_an_invalid_url_is_not_echoed(tmp_path: Path) -> None:
    f = tmp_path / "b.toml"
    f.write_text('[database]\nurl = "mysql://u:s3cret@h/db"\n')
    with pytest.raises(ConfigError) as info:
        load_config(f, environ={})
    assert "s3cret" not in str(info.value)
