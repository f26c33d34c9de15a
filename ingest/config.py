"""Configuration: one TOML file plus ``BEFFROI_<SECTION>_<KEY>`` environment overrides, validated at start-up.

Every key is declared once in ``SETTINGS`` (section, key, type, default). ``beffroi.example.toml`` at the
repository root documents each of them; ``tests/ingest/test_config.py`` fails when the two disagree.

Precedence: defaults < file (``--config`` or ``BEFFROI_CONFIG``) < environment. A key that is unknown, of the
wrong type or out of range stops the service with a ``ConfigError`` naming the key and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ConfigError", "Config", "Setting", "SETTINGS", "load_config", "MqttUrl", "parse_mqtt_url"]

ENV_PREFIX = "BEFFROI_"


class ConfigError(Exception):
    """A configuration key is missing, unknown or invalid. The message names the key and its source."""


@dataclass(frozen=True, slots=True)
class Setting:
    section: str
    key: str
    kind: type
    default: Any
    check: Callable[[Any], str | None] | None = None

    @property
    def env_name(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _feed_decimals(value: Any) -> str | None:
    # 0 decimals is ~110 km, 4 is ~11 m: beyond 3 (~110 m) the public feed would pinpoint a flock and its shepherd
    return None if 0 <= value <= 3 else "must be between 0 and 3 (decimal places of latitude/longitude)"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _db_url(value: Any) -> str | None:
    return None if urlsplit(value).scheme in ("postgresql", "postgres") else "must be a postgresql:// URL"


def _mqtt_url(value: Any) -> str | None:
    try:
        parse_mqtt_url(value)
    except ValueError as exc:
        return str(exc)
    return None


SETTINGS: tuple[Setting, ...] = (
    Setting("database", "url", str, "postgresql://postgres@127.0.0.1:5432/beffroi", _db_url),
    Setting("database", "pool_size", int, 4, _positive),
    Setting("database", "timescaledb", str, "auto", _one_of("auto", "on", "off")),
    Setting("database", "statement_timeout_s", float, 60.0, _non_negative),
    Setting("mqtt", "url", str, "mqtt://127.0.0.1:1883", _mqtt_url),
    Setting("mqtt", "client_id", str, "beffroi-ingest"),
    Setting("mqtt", "session_expiry_s", int, 7 * 24 * 3600, _non_negative),
    Setting("mqtt", "keepalive_s", int, 30, _positive),
    Setting("mqtt", "shared_group", str, ""),
    Setting("mqtt", "chirpstack_topic", str, "application/+/device/+/event/+"),
    Setting("mqtt", "tts_topic", str, "v3/+/devices/+/up"),
    Setting("mqtt", "ca_file", str, ""),
    Setting("mqtt", "reconnect_max_s", float, 30.0, _positive),
    Setting("mqtt", "receive_maximum", int, 8000, _positive),
    Setting("mqtt", "protocol", str, "5", _one_of("5", "3.1.1")),
    Setting("ingest", "batch_max_rows", int, 20000, _positive),
    Setting("ingest", "batch_max_age_ms", int, 50, _positive),
    Setting("ingest", "queue_max_uplinks", int, 10000, _positive),
    Setting("ingest", "rollup_refresh_s", float, 5.0, _positive),
    Setting("ingest", "max_message_bytes", int, 65536, _positive),
    Setting("ingest", "unknown_devices", str, "reject", _one_of("reject", "provision")),
    Setting("ingest", "device_refresh_s", int, 60, _positive),
    Setting("retention", "uplinks_days", int, 90, _non_negative),
    Setting("retention", "readings_days", int, 3650, _non_negative),
    Setting("retention", "positions_days", int, 30, _non_negative),
    Setting("retention", "rejects_days", int, 30, _non_negative),
    Setting("retention", "compress_after_days", int, 7, _positive),
    Setting("http", "listen", str, "127.0.0.1:8080"),
    Setting("http", "public_url", str, "http://127.0.0.1:8080"),
    Setting("log", "level", str, "INFO", _one_of("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("log", "format", str, "text", _one_of("text", "json")),
    Setting("devices", "extra_paths", list, []),
    Setting("api", "cors_origins", list, []),
    Setting("api", "trusted_proxies", list, []),
    Setting("api", "auth_max_failures", int, 10, _positive),
    Setting("api", "auth_failure_window_s", int, 300, _positive),
    Setting("api", "chirpstack_secret", str, ""),
    Setting("api", "export_batch_rows", int, 5000, _positive),
    Setting("api", "export_concurrency", int, 2, _positive),
    Setting("feed", "enabled", bool, False),
    Setting("feed", "round_decimals", int, 2, _feed_decimals),
    Setting("feed", "delay_minutes", int, 60, _non_negative),
    Setting("feed", "max_age_hours", int, 24, _positive),
    Setting("feed", "cors_origins", list, []),
    Setting("rules", "dir", str, ""),
    Setting("rules", "tick_s", float, 15.0, _positive),
    Setting("rules", "clock", str, "wall", _one_of("wall", "data")),
    Setting("notify", "language", str, "fr", _one_of("fr", "en")),
    Setting("notify", "smtp_host", str, ""),
    Setting("notify", "smtp_port", int, 587, _positive),
    Setting("notify", "smtp_security", str, "starttls", _one_of("starttls", "tls", "none")),
    Setting("notify", "smtp_user", str, ""),
    Setting("notify", "smtp_password", str, ""),
    Setting("notify", "smtp_from", str, "beffroi@localhost"),
    Setting("notify", "sms_provider", str, "none", _one_of("none", "ovh", "twilio", "http")),
    Setting("notify", "sms_sender", str, ""),
    Setting("notify", "sms_max_segments", int, 2, _positive),
    Setting("notify", "ovh_endpoint", str, "https://eu.api.ovh.com/1.0"),
    Setting("notify", "ovh_application_key", str, ""),
    Setting("notify", "ovh_application_secret", str, ""),
    Setting("notify", "ovh_consumer_key", str, ""),
    Setting("notify", "ovh_service_name", str, ""),
    Setting("notify", "twilio_endpoint", str, "https://api.twilio.com"),
    Setting("notify", "twilio_account_sid", str, ""),
    Setting("notify", "twilio_auth_token", str, ""),
    Setting("notify", "http_sms_url", str, ""),
    Setting("notify", "http_sms_method", str, "POST", _one_of("POST", "PUT", "GET")),
    Setting("notify", "http_sms_headers", list, []),
    Setting("notify", "http_sms_body", str, ""),
    Setting("notify", "http_sms_secret", str, ""),
    Setting("notify", "webhook_secret", str, ""),
    Setting("notify", "ack_secret", str, ""),
    Setting("notify", "ack_link_ttl_s", int, 24 * 3600, _positive),
    Setting("notify", "max_attempts", int, 8, _positive),
)

_BY_NAME: dict[tuple[str, str], Setting] = {(s.section, s.key): s for s in SETTINGS}
_SECTIONS = sorted({s.section for s in SETTINGS}, key=len, reverse=True)


@dataclass(frozen=True)
class Config:
    """Validated settings, read as ``config["mqtt"]["url"]`` or ``config.get("mqtt", "url")``."""

    values: Mapping[str, Mapping[str, Any]]
    source: str

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.values[section]

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> MqttUrl:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError("must be an mqtt:// or mqtts:// URL")
    if not parts.hostname:
        raise ValueError("has no host")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    return MqttUrl(parts.hostname, port, tls, parts.username, parts.password)


def _coerce(setting: Setting, raw: Any, origin: str) -> Any:
    where = f"{setting.section}.{setting.key} (from {origin})"
    value = raw
    if isinstance(raw, str) and setting.kind is not str:
        try:
            if setting.kind is bool:
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(raw)
                value = raw.lower() in ("1", "true", "yes")
            elif setting.kind is list:
                value = [item for item in raw.split(",") if item]
            else:
                value = setting.kind(raw)
        except ValueError:
            raise ConfigError(f"{where}: {raw!r} is not a valid {setting.kind.__name__}") from None
    if setting.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, setting.kind) or (setting.kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {setting.kind.__name__}, got {type(raw).__name__} {raw!r}")
    if setting.check is not None:
        problem = setting.check(value)
        if problem:
            shown = "<hidden>" if setting.key in ("url",) and "@" in str(value) else repr(value)
            raise ConfigError(f"{where}: {shown} {problem}")
    return value


def _env_setting(name: str) -> Setting | None:
    rest = name[len(ENV_PREFIX):].lower()
    for section in _SECTIONS:
        if rest.startswith(section + "_"):
            return _BY_NAME.get((section, rest[len(section) + 1:]))
    return None


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load defaults, then the file (if any), then ``BEFFROI_*`` variables; raise ConfigError on any bad key."""
    env = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {}
    for s in SETTINGS:
        values.setdefault(s.section, {})[s.key] = s.default
    file_path = path or env.get("BEFFROI_CONFIG")
    source = "defaults"
    if file_path:
        file = Path(file_path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {file} does not exist (given by --config or BEFFROI_CONFIG)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        source = str(file)
        for section, table in data.items():
            if not isinstance(table, dict) or section not in values:
                raise ConfigError(f"{file}: unknown section [{section}]; known: {', '.join(sorted(values))}")
            for key, raw in table.items():
                setting = _BY_NAME.get((section, key))
                if setting is None:
                    known = ", ".join(k for (sec, k) in _BY_NAME if sec == section)
                    raise ConfigError(f"{file}: unknown key {section}.{key}; known keys of [{section}]: {known}")
                values[section][key] = _coerce(setting, raw, str(file))
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == "BEFFROI_CONFIG":
            continue
        setting = _env_setting(name)
        if setting is None:
            if name.startswith(("BEFFROI_TEST_", "BEFFROI_GRAFANA_", "BEFFROI_SECRET_")):
                continue  # read by tests, the demo and secret files, not by the service configuration
            raise ConfigError(f"environment variable {name} is not a Beffroi setting (see beffroi.example.toml)")
        values[setting.section][setting.key] = _coerce(setting, raw, f"environment {name}")
    return Config(values, source)
