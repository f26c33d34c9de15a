"""Loading profile.yaml: every mistake names the file and the field; a valid folder loads on its own."""

from __future__ import annotations

import pickle
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from devices.profile import ProfileError, load_profile
from devices.registry import BUILTIN_ORIGIN, ProfileRegistry, UnknownProfile, discover
from tests.devices.conftest import PROFILE, MakeModel


def _replace(old: str, new: str) -> str:
    assert old in PROFILE
    return PROFILE.replace(old, new)


BAD_PROFILES = [
    # (profile text, field named in the error, words of the problem)
    (_replace("family: co2", "family: parking"), "family", "not one of co2, flood, bin, tracker"),
    (_replace("quantity: battery,", "quantity: batery,"), "readings[0].quantity", "unknown quantity 'batery'"),
    (_replace("id: acme-t1", "id: Acme T1"), "id", "<vendor>-<model>"),
    (_replace("lorawan_class: A", "lorawan_class: D"), "lorawan_class", "not one of A, B, C"),
    (_replace("uplink_period_s: 600", "uplink_period_s: -5"), "uplink_period_s", "greater than 0"),
    (_replace("fports: [1]", "fports: [0]"), "fports[0]", "1..223"),
    (_replace("fports: [1]", "fports: []"), "fports", "non-empty list"),
    (_replace("decoder: decoder.py", "decoder: missing.py"), "decoder", "does not exist"),
    (_replace("decoder: decoder.py", "decoder: ../x.py"), "decoder", "own folder"),
    (_replace("model: T1\n", ""), "model", "is required"),
    (PROFILE + "colour: red\n", "colour", "unknown field"),
    (_replace("path: temperature}", "path: temperature, scale: 0}"), "readings[1].scale", "must not be 0"),
    (_replace("path: temperature}", "path: temperature, scale: big}"), "readings[1].scale", "must be a number"),
    (_replace("path: temperature}", "path: temperature, parse: float}"), "readings[1].parse", "not one of number"),
    (_replace("path: temperature}", "path: a..b}"), "readings[1].path", "empty component"),
    (_replace("path: temperature}", "path: temperature, unit: K}"), "readings[1].unit", "unknown field"),
    (_replace("path: temperature}", "path: temperature, map: {moving: fast}}"), "readings[1].map.moving", "number"),
    (PROFILE + "position: {latitude: lat}\n", "position.longitude", "is required"),
    (PROFILE + "params:\n  depth: {default: 1200, unit: mm, colour: red}\n", "params.depth.colour", "unknown field"),
    (PROFILE + "params:\n  Depth: {default: 1}\n", "params.Depth", "lowercase identifiers"),
    (PROFILE + "derive:\n  - {quantity: fill_level, function: fill_from_volume}\n", "derive[0].function",
     "unknown function"),
    (PROFILE + "derive:\n  - {quantity: fill_level, function: fill_from_distance}\n", "derive[0].params.depth",
     "is required"),
    (PROFILE + "derive:\n  - {quantity: fill_level, function: fill_from_distance, params: {depth: bin_depth}}\n",
     "derive[0].params.depth", "not declared under params"),
    (PROFILE + "params:\n  bin_depth: {default: 1.2, unit: m}\n"
     "derive:\n  - {quantity: fill_level, function: fill_from_distance, params: {depth: bin_depth}}\n",
     "params.bin_depth.unit", "must be 'mm'"),
    (PROFILE + "derive:\n  - {quantity: water_level, function: level_from_distance, params: {height: 2, h: 1}}\n",
     "derive[0].params.h", "has no parameter"),
]


@pytest.mark.parametrize(("text", "field", "problem"), BAD_PROFILES, ids=[c[1] + ":" + c[2] for c in BAD_PROFILES])
def test_a_wrong_field_is_named_with_its_file(make_model: MakeModel, text: str, field: str, problem: str) -> None:
    folder = make_model(profile=text)
    with pytest.raises(ProfileError) as err:
        load_profile(folder)
    message = str(err.value)
    assert str(folder / "profile.yaml") in message
    assert f": {field}: " in message, message
    assert problem in message, message


def test_the_error_points_at_the_line_of_the_field(make_model: MakeModel) -> None:
    folder = make_model(profile=_replace("quantity: temperature,", "quantity: temperatur,"))
    with pytest.raises(ProfileError, match=r"profile\.yaml:11: readings\[1\]\.quantity: unknown quantity"):
        load_profile(folder)


def test_yaml_syntax_errors_name_the_file_and_line(make_model: MakeModel) -> None:
    folder = make_model(profile=PROFILE + "readings: [\n")
    with pytest.raises(ProfileError, match=r"profile\.yaml:\d+: not valid YAML"):
        load_profile(folder)


def test_a_decoder_that_fails_to_import_is_a_profile_error(make_model: MakeModel) -> None:
    folder = make_model(decoder="import not_a_module_anywhere\n")
    with pytest.raises(ProfileError, match=r"decoder: importing decoder\.py failed: ModuleNotFoundError"):
        load_profile(folder)


def test_a_decoder_without_decode_uplink_is_a_profile_error(make_model: MakeModel) -> None:
    folder = make_model(decoder="def decode(fport, payload):\n    return {}\n")
    with pytest.raises(ProfileError, match="defines no decode_uplink"):
        load_profile(folder)


def test_a_model_loads_from_any_folder_with_sibling_modules(make_model: MakeModel) -> None:
    # adding a model needs nothing outside its folder: a helper module next to the decoder is importable
    decoder = "from .layout import split\n\ndef decode_uplink(fport, payload, recv_time=None):\n" \
              "    return {'data': split(payload), 'warnings': [], 'errors': []}\n"
    layout = "def split(payload):\n    return {'battery': payload[0], 'temperature': payload[1] - 40}\n"
    folder = make_model(decoder=decoder, files={"layout.py": layout})
    profile = load_profile(folder)
    decoded = profile.decode(1, bytes([90, 61]), {}, None)
    assert decoded.errors == []
    assert {r.quantity: r.value for r in decoded.readings} == {"battery": 90, "temperature": 21}
    assert profile.id == "acme-t1" and profile.folder == folder.resolve()


def test_profiles_survive_pickling_for_worker_processes(make_model: MakeModel) -> None:
    profile = load_profile(make_model(), "test")
    clone = pickle.loads(pickle.dumps(profile))
    assert clone.id == profile.id and clone.origin == "test"
    assert clone.decode(1, bytes([90, 0, 215])).readings == profile.decode(1, bytes([90, 0, 215])).readings


def test_registry_finds_builtins_through_the_entry_point_group() -> None:
    registry = ProfileRegistry.load()
    assert "dragino-ldds75" in registry
    assert registry.origin("dragino-ldds75") == BUILTIN_ORIGIN
    assert registry["dragino-ldds75"].family == "flood"
    assert registry.get("nope-nothing") is None
    with pytest.raises(UnknownProfile, match="unknown device profile 'nope-nothing'"):
        registry["nope-nothing"]
    assert [p.id for p in registry] == sorted(p.id for p in registry)


def test_registry_loads_a_third_party_package_from_its_entry_point(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "lille_capteurs"
    (package / "acme" / "t1").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "acme" / "t1" / "profile.yaml").write_text(PROFILE)
    from tests.devices.conftest import DECODER

    (package / "acme" / "t1" / "decoder.py").write_text(DECODER)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    plugin = EntryPoint(name="lille", value="lille_capteurs", group="beffroi.devices")
    builtin = EntryPoint(name="builtin", value="devices.vendors", group="beffroi.devices")
    registry = ProfileRegistry.load(plugins=[plugin, builtin])
    assert "acme-t1" in registry and "milesight-am307" in registry
    assert registry.origin("acme-t1") == "(entry point lille = lille_capteurs)"
    sys.modules.pop("lille_capteurs", None)


def test_extra_paths_from_the_configuration_are_scanned(make_model: MakeModel, tmp_path: Path) -> None:
    make_model()
    make_model(profile=_replace("id: acme-t1", "id: acme-t2").replace("model: T1", "model: T2"), name="acme/t2")
    registry = ProfileRegistry.load([tmp_path], plugins=[])
    assert registry.ids() == ["acme-t1", "acme-t2"]
    assert registry.origin("acme-t2") == f"path {tmp_path}"


def test_two_profiles_with_one_id_are_refused_naming_both(make_model: MakeModel, tmp_path: Path) -> None:
    first = make_model(name="a/t1")
    second = make_model(name="b/t1")
    with pytest.raises(ProfileError) as err:
        ProfileRegistry.load([tmp_path], plugins=[])
    assert str(first / "profile.yaml") in str(err.value) and str(second / "profile.yaml") in str(err.value)


def test_the_same_folder_reached_twice_loads_once(make_model: MakeModel, tmp_path: Path) -> None:
    folder = make_model()
    assert len(discover([tmp_path, folder], plugins=[])) == 1


def test_an_entry_point_that_cannot_be_imported_is_named() -> None:
    broken = EntryPoint(name="broken", value="no_such_package_beffroi", group="beffroi.devices")
    with pytest.raises(ProfileError, match="entry point broken = no_such_package_beffroi"):
        ProfileRegistry.load(plugins=[broken])


def test_the_documented_profile_format_example_is_valid(tmp_path: Path) -> None:
    # PROFILE_FORMAT.md shows a complete profile.yaml: it must stay loadable (documentation that lies is a bug)
    doc = (Path(__file__).resolve().parents[2] / "devices" / "PROFILE_FORMAT.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "profile.yaml").write_text(block)
    (tmp_path / "decoder.py").write_text(textwrap.dedent("""\
        def decode_uplink(fport, payload, recv_time=None):
            return {"data": {}, "warnings": [], "errors": []}
    """))
    profile = load_profile(tmp_path)
    assert profile.id == "milesight-am307"
    assert {"fill_level", "water_level", "co2"} <= profile.quantities
