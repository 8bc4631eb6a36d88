"""The repository keeps its promises: one dependency list, CI runs the README's test command."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _names(reqs):
    return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower() for r in reqs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pip_reqs = [r for r in pip if not r.startswith("-e")]
    assert sorted(pip_reqs) == sorted(project["dependencies"])
    assert _names(pip_reqs) == _names(project["dependencies"])


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make demo" in readme


def test_bundled_samples_have_true_masks_apart():
    # the demo segments the samples itself (no mask beside a photo); the true masks sit in samples/masks
    images = [p for p in (ROOT / "samples").glob("*.jpg")]
    assert len(images) >= 2
    for p in images:
        assert (p.parent / "masks" / f"{p.stem}_mask.png").is_file(), p.name
        assert not list(p.parent.glob(f"{p.stem}_mask.*")), p.name


def test_ci_runs_the_readme_commands_in_a_fresh_clone():
    """CI's fresh-machine check runs exactly the README's two set-up commands."""
    import subprocess

    out = subprocess.run([str(ROOT / ".ci" / "fresh-check"), "--print-commands"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split("#")[0].strip() for line in out] == ["make demo", "make test"]
    assert ".ci/fresh-check" in (ROOT / ".ci" / "run").read_text()
