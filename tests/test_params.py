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
    msg = _load_error(tmp_path / "bad.yaml", text)
    assert word in msg and "bad.yaml" in msg and "\n" not in msg


def _load_error(path, text: str) -> str:
    """The message of loading ``text`` as a parameter file (it must fail)."""
    path.write_text(text)
    with pytest.raises(BackdropError) as err:
        Params.load(path)
    return str(err.value)


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


# --------------------------------------------------------------------------- hostile and everyday presets

BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "lift: [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


@pytest.mark.parametrize("text, why", [
    (BOMB, "aliases"),  # 9**9 strings behind a few hundred bytes
    ("lift: " + "[" * 3000 + "]" * 3000 + "\n", "nested"),
])
def test_an_alias_bomb_or_deep_nesting_is_one_short_line(tmp_path, text, why):
    msg = _load_error(tmp_path / "hostile.yaml", text)
    assert "hostile.yaml" in msg and why in msg and "\n" not in msg and len(msg) < 200


def test_a_huge_value_is_never_formatted_whole(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("lift: [" + ", ".join(["1"] * 5000) + "]\nfloor: " + "x" * 5000 + "\n")
    with pytest.raises(BackdropError) as err:
        Params.load(path)
    assert "lift" in str(err.value) and "floor" in str(err.value) and len(str(err.value)) < 400


def test_yaml_1_1_words_and_exponents_mean_what_a_photographer_means(tmp_path):
    path = tmp_path / "hand.yaml"
    path.write_text("floor: off\nfeather: 3e-2\nprotect_contact_shadows: no\n")
    p = Params.load(path)
    assert (p.floor, p.feather, p.protect_contact_shadows) == ("off", 0.03, False)
    assert Params.load(p.save(tmp_path / "again.yaml")) == p


def test_a_fifo_or_a_folder_is_refused_at_once(tmp_path):
    import os
    import threading

    fifo = tmp_path / "preset.yaml"
    os.mkfifo(fifo)
    got = []
    t = threading.Thread(target=lambda: got.append(pytest.raises(BackdropError, Params.load, fifo)), daemon=True)
    t.start()
    t.join(10)
    assert got and "not a regular file" in str(got[0].value)  # did not wait for a writer
    with pytest.raises(BackdropError, match="not a regular file"):
        Params.load(tmp_path)


def test_every_bad_key_of_a_preset_is_named_at_once(tmp_path):
    path = tmp_path / "typos.yaml"
    path.write_text("lfit: 40\nlift: 140\nfloor: maybe\ntexture: 20\n")
    with pytest.raises(BackdropError) as err:
        Params.load(path)
    msg = str(err.value)
    assert "typos.yaml" in msg and "\n" not in msg
    assert "'lfit'" in msg and "'lift'" in msg and "'floor'" in msg and "'texture'" not in msg
