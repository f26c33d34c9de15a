"""What the pages show, gathered from the database and shaped for the templates (French labels, local time)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.api.app import ApiContext
from ingest.api.common import FAMILIES, now_of
from ingest.api.devices import STATES, device_rows

__all__ = ["status_view", "alert_view", "local_time", "duration", "FAMILY_LABELS", "STATE_LABELS"]

PARIS = ZoneInfo("Europe/Paris")
FAMILY_LABELS = {"co2": "Qualité de l'air (CO₂)", "flood": "Niveau d'eau, crues", "bin": "Conteneurs, bennes",
                 "tracker": "Troupeaux (colliers)", None: "Sans profil"}
STATE_LABELS = {"ok": "OK", "silent": "Silencieux", "never": "Jamais vu", "unassigned": "Non affecté",
                "disabled": "Désactivé"}
ALERT_STATE_LABELS = {"pending": "En attente", "firing": "En cours", "acknowledged": "Pris en compte",
                      "resolved": "Terminée"}
SEVERITY_LABELS = {"info": "Information", "warning": "Avertissement", "critical": "Critique"}

_OPEN_ALERTS = """
SELECT a.id, a.rule, a.state, a.severity, a.summary, a.started_at, a.fired_at, a.acked_at, a.acked_by,
       coalesce(d.name, a.dev_eui), d.site
FROM alerts a LEFT JOIN devices d ON d.dev_eui = a.dev_eui
WHERE a.state IN ('firing', 'acknowledged')
ORDER BY a.state = 'acknowledged', CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         coalesce(a.fired_at, a.started_at)
"""
_ALERT = """
SELECT a.id, a.rule, a.dev_eui, a.state, a.severity, a.summary, a.value, a.threshold, a.started_at, a.fired_at,
       a.acked_at, a.acked_by, a.resolved_at, d.name, d.site, d.latitude, d.longitude, d.profile
FROM alerts a LEFT JOIN devices d ON d.dev_eui = a.dev_eui WHERE a.id = %s
"""
_TIMELINE = ("SELECT time, from_state, to_state, severity, actor, note FROM alert_transitions WHERE alert_id = %s "
             "ORDER BY time, id")


def local_time(value: datetime | None) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M") if value else "—"


def duration(since: datetime | None, now: datetime) -> str:
    """``2 j 3 h``, ``1 h 05 min``, ``12 min``, ``moins d'une minute``."""
    if since is None:
        return "—"
    minutes = max(int((now - since) / timedelta(minutes=1)), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min" if mins else "moins d'une minute"


def number(value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


async def status_view(ctx: ApiContext) -> dict[str, Any]:
    now = now_of(ctx)
    devices = await device_rows(ctx)
    counts = Counter((d["family"], d["state"]) for d in devices)
    families = [f for f in (*FAMILIES, None) if any(fam == f for fam, _ in counts)]
    # the first three columns always; "unassigned" / "disabled" only when some device is (narrow phone screens)
    shown = [s for s in STATES if s in STATES[:3] or any(state == s for _, state in counts)]
    table = [{"family": f, "label": FAMILY_LABELS.get(f, f), "total": sum(counts[(f, s)] for s in STATES),
              "states": [counts[(f, s)] for s in shown]} for f in families]
    async with ctx.pool.connection() as conn:
        rows = await (await conn.execute(_OPEN_ALERTS)).fetchall()
    alerts = [{"id": r[0], "rule": r[1], "state": r[2], "state_label": ALERT_STATE_LABELS.get(r[2], r[2]),
               "severity": r[3], "severity_label": SEVERITY_LABELS.get(r[3], r[3]), "summary": r[4] or r[1],
               "since": local_time(r[6] or r[5]), "for": duration(r[6] or r[5], now), "acked_by": r[8],
               "device": r[9], "site": r[10]} for r in rows]
    return {"now": local_time(now), "families": table, "states": [STATE_LABELS[s] for s in shown],
            "state_keys": shown, "alerts": alerts, "device_count": len(devices)}


async def alert_view(ctx: ApiContext, alert_id: int) -> dict[str, Any] | None:
    now = now_of(ctx)
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(_ALERT, (alert_id,))).fetchone()
        if row is None:
            return None
        timeline = await (await conn.execute(_TIMELINE, (alert_id,))).fetchall()
    (id_, rule, dev_eui, state, severity, summary, value, threshold, started, fired, acked, acked_by, resolved,
     name, site, lat, lon, profile) = row
    map_url = (f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}#map=17/{lat:.5f}/{lon:.5f}"
               if lat is not None and lon is not None else None)
    return {
        "id": id_, "rule": rule, "dev_eui": dev_eui, "state": state,
        "state_label": ALERT_STATE_LABELS.get(state, state), "severity": severity,
        "severity_label": SEVERITY_LABELS.get(severity, severity), "summary": summary or rule,
        "value": number(value), "threshold": number(threshold), "device": name or dev_eui, "site": site,
        "map_url": map_url, "profile": profile, "since": local_time(fired or started),
        "for": duration(fired or started, now if resolved is None else resolved), "started": local_time(started),
        "acked": local_time(acked) if acked else None, "acked_by": acked_by,
        "resolved": local_time(resolved) if resolved else None, "firing": state == "firing",
        "timeline": [{"time": local_time(t), "to": ALERT_STATE_LABELS.get(to, to), "actor": actor, "note": note}
                     for t, _, to, _, actor, note in timeline],
    }
