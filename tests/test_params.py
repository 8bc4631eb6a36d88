"""Parameter sets: defaults, validation that names the key, YAML round trip."""
from pathlib import Path

import pytest
import yaml

from backdrop import BackdropError, Params

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_match_the_shipped_default_file():
    shipped = Params.load(ROOT / "params" / "default.yaml")
    assert shipped == Params()
    assert Params().lift == 70 and Params().texture == 50
    assert Params().floor == "auto" and Params().protect_contact_shadows is True


def test_every_shipped_parameter_file_loads():
    files = sorted((ROOT / "params").glob("*.yaml"))
    assert files
    for f in files:
        Params.load(f)


def test_yaml_round_trip(tmp_path):
    p = Params(lift=85, texture=20.5, feather=0.05, floor="off", protect_contact_shadows=False)
    path = p.save(tmp_path / "shoot.yaml")
    assert Params.load(path) == p
    # a plain YAML mapping a user writes by hand
    (tmp_path / "hand.yaml").write_text("lift: 40\ntexture: 90\n")
    q = Params.load(tmp_path / "hand.yaml")
    assert (q.lift, q.texture, q.feather) == (40.0, 90.0, Params().feather)


@pytest.mark.parametrize(
    "text, word",
    [
        ("lfit: 40\n", "lfit"),
        ("lift: 140\n", "lift"),
        ("texture: -1\n", "texture"),
        ("lift: strong\n", "lift"),
        ("floor: maybe\n", "floor"),
        ("protect_contact_shadows: 3\n", "protect_contact_shadows"),
        ("feather: .nan\n", "feather"),
        ("- lift\n- 40\n", "mapping"),
        ("lift: [\n", "YAML"),
    ],
)
def test_bad_files_name_the_key_and_the_file(tmp_path, text, word):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(BackdropError) as err:
        Params.load(f)
    msg = str(err.value)
    assert word in msg and "bad.yaml" in msg and "\n" not in msg


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(BackdropError, match="not found"):
        Params.load(tmp_path / "nope.yaml")


def test_replace_validates():
    with pytest.raises(BackdropError, match="texture"):
        Params().replace(texture=101)
    assert Params().replace(lift=0).lift == 0


def test_saved_file_is_plain_yaml(tmp_path):
    data = yaml.safe_load(Params(lift=12).save(tmp_path / "p.yaml").read_text())
    assert data["lift"] == 12 and set(data) == set(Params().to_dict())
