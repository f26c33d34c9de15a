"""Boards → stable JSON files under ``dashboards/generated/`` (one per board, named by uid), and the Grafana
provisioning files under ``dashboards/provisioning/``.

Stable means: keys sorted, two-space indent, a final newline, panel ids numbered in layout order, and
``version``/``id`` left out (Grafana owns them), so regenerating unchanged code gives byte-identical files and
``beffroi dashboards build --check`` can fail CI on drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboards.boards import BOARDS
from dashboards.grafana import SCHEMA_VERSION, to_plain
from dashboards.provision import provisioning_files

__all__ = ["ROOT", "render", "render_all", "dump", "outputs", "write", "check"]

ROOT = Path(__file__).resolve().parent   # generated/ and provisioning/ live here


def render(builder: Any) -> dict[str, Any]:
    """One board as plain JSON, with stable panel ids."""
    board = to_plain(builder.build())
    board.pop("id", None)
    board.pop("version", None)
    board["schemaVersion"] = SCHEMA_VERSION
    next_id = 1
    for panel in board.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        for inner in panel.get("panels", []):  # collapsed rows hold their panels
            inner["id"] = next_id
            next_id += 1
    return board


def render_all() -> dict[str, dict[str, Any]]:
    boards = [render(make()) for make in BOARDS]
    uids = [b["uid"] for b in boards]
    if len(set(uids)) != len(uids):
        raise ValueError(f"two boards share a uid: {uids}")
    return {b["uid"]: b for b in boards}


def dump(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def outputs(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file (boards and provisioning) → its text."""
    files = {root / "generated" / f"{uid}.json": dump(board) for uid, board in render_all().items()}
    files.update({root / "provisioning" / rel: text for rel, text in provisioning_files().items()})
    return files


def write(root: Path = ROOT) -> list[Path]:
    """Write every generated file; remove board files no board generates any more. Returns the files written."""
    files = outputs(root)
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for stale in (root / "generated").glob("*.json"):
        if stale not in files:
            stale.unlink()
            changed.append(stale)
    return changed


def check(root: Path = ROOT) -> list[str]:
    """Differences between the files on disk and what the code generates now (empty: up to date)."""
    files = outputs(root)
    problems = []
    for path, text in files.items():
        rel = path.relative_to(root)
        if not path.exists():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: differs from what the code generates")
    for extra in sorted((root / "generated").glob("*.json")):
        if extra not in files:
            problems.append(f"{extra.relative_to(root)}: no board generates it any more")
    return problems
