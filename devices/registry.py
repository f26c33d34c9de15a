"""Where device profiles come from: packages registered under the ``beffroi.devices`` entry-point group (the
built-ins are one of them: ``builtin = "devices.vendors"`` in pyproject.toml) and extra folders from the
configuration (``devices.extra_paths``).

An entry point names a package (or module); its folder is searched for ``profile.yaml`` files, each marking one
device-model folder. So a city keeps private profiles in its own package::

    [project.entry-points."beffroi.devices"]
    ville_de_lille = "lille_capteurs.profiles"

Two profiles with the same id are an error naming both folders: a silent override would decode a city's sensors
with a different decoder than the one its integrator tested.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from devices.profile import PROFILE_FILE, Profile, ProfileError, load_profile

__all__ = ["ProfileRegistry", "UnknownProfile", "ENTRY_POINT_GROUP", "BUILTIN_ORIGIN", "find_profile_folders",
           "discover"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "beffroi.devices"
BUILTIN_ORIGIN = "built-in"
_SKIP_DIRS = {"__pycache__", "node_modules"}


class UnknownProfile(KeyError):
    """No loaded profile has this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown profile"


def find_profile_folders(root: Path) -> list[Path]:
    """Model folders under *root* (or *root* itself when it holds a profile.yaml), in a stable order."""
    root = Path(root)
    if (root / PROFILE_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise ProfileError(f"{root}: no such profile folder")
    found = [p.parent for p in root.rglob(PROFILE_FILE)
             if not any(part.startswith(".") or part in _SKIP_DIRS for part in p.relative_to(root).parts)]
    return sorted(found)


def discover(extra_paths: Sequence[str | Path] = (), *,
             plugins: Iterable[EntryPoint] | None = None) -> list[tuple[Path, str]]:
    """Every model folder (resolved, each once) with its origin, without loading anything but the packages."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    eps = entry_points(group=ENTRY_POINT_GROUP) if plugins is None else plugins
    roots = [(folder, _origin_of(ep)) for ep in sorted(eps, key=lambda e: (e.name != "builtin", e.name))
             for folder in _entry_point_folders(ep)]
    roots += [(Path(path).expanduser(), f"path {path}") for path in extra_paths]
    for root, origin in roots:
        for folder in find_profile_folders(root):
            resolved = folder.resolve()
            if resolved not in seen:    # the same package reachable twice (editable install, overlapping paths)
                seen.add(resolved)
                found.append((resolved, origin))
    return found


class ProfileRegistry:
    """The loaded profiles by id. Immutable once loaded; safe to share between threads."""

    def __init__(self, profiles: Iterable[Profile] = ()) -> None:
        self._profiles: dict[str, Profile] = {}
        for profile in profiles:
            self.add(profile)

    @classmethod
    def load(cls, extra_paths: Sequence[str | Path] = (), *,
             plugins: Iterable[EntryPoint] | None = None) -> ProfileRegistry:
        """Load every profile from the entry-point group (or the given *plugins* entry points) and *extra_paths*.

        Raises ProfileError on the first invalid profile, naming its file and field.
        """
        registry = cls(load_profile(folder, origin) for folder, origin in discover(extra_paths, plugins=plugins))
        log.debug("loaded %d device profiles", len(registry))
        return registry

    def add(self, profile: Profile) -> None:
        other = self._profiles.get(profile.id)
        if other is not None:
            raise ProfileError(f"{profile.folder / PROFILE_FILE}: id: {profile.id!r} is already defined by "
                               f"{other.folder / PROFILE_FILE} ({other.origin}); profile ids must be unique")
        self._profiles[profile.id] = profile

    def get(self, profile_id: str) -> Profile | None:
        return self._profiles.get(profile_id)

    def __getitem__(self, profile_id: str) -> Profile:
        try:
            return self._profiles[profile_id]
        except KeyError:
            raise UnknownProfile(f"unknown device profile {profile_id!r}; loaded profiles: "
                                 f"{', '.join(sorted(self._profiles)) or 'none'}") from None

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self._profiles

    def __iter__(self) -> Iterator[Profile]:
        return iter(sorted(self._profiles.values(), key=lambda p: p.id))

    def __len__(self) -> int:
        return len(self._profiles)

    def ids(self) -> list[str]:
        return sorted(self._profiles)

    def origin(self, profile_id: str) -> str:
        """Where the profile came from: ``built-in``, ``<distribution> (entry point …)`` or ``path …``."""
        return self[profile_id].origin


def _origin_of(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is not None and dist.name == "beffroi":
        return BUILTIN_ORIGIN
    owner = f"{dist.name} " if dist is not None else ""
    return f"{owner}(entry point {ep.name} = {ep.value})".strip()


def _entry_point_folders(ep: EntryPoint) -> list[Path]:
    try:
        module = importlib.import_module(ep.module)
    except Exception as exc:
        raise ProfileError(f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP}): cannot import "
                           f"{ep.module}: {type(exc).__name__}: {exc}") from exc
    file = getattr(module, "__file__", None)
    if file:
        return [Path(file).parent]
    return [Path(p) for p in getattr(module, "__path__", [])]    # namespace package
