"""The notebooks: committed without outputs, executed headless with papermill, the batch report
(table, thumbnails, failures, a wrong parameter), ``backdrop batch --report``, and the tune panel."""
from __future__ import annotations

import base64
import functools
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
from PIL import Image, ImageCms

from backdrop import Params
from backdrop.cli import main
from backdrop.errors import BackdropError
from backdrop.metrics import backdrop_stats
from backdrop.notebooks import Tuner, check_batch_inputs, kernel_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SIZE = (240, 160)  # (width, height)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=None)
def _scene(name: str):
    from bench.scenes import make_scene

    return make_scene(name, size=SIZE, seed=0)


def _exif(make: str) -> bytes:
    exif = Image.Exif()
    exif[271] = make
    return exif.tobytes()


def _save(path: Path, scene: str, *, mask: bool = True) -> Path:
    s = _scene(scene)
    rgb8 = (np.clip(s.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    kw = dict(icc_profile=SRGB_ICC, exif=_exif(f"Make-{path.stem}"))
    if path.suffix == ".png":
        Image.fromarray(rgb8).save(path, "PNG", **kw)
    else:
        Image.fromarray(rgb8).save(path, "JPEG", quality=95, **kw)
    if mask:
        Image.fromarray(np.where(s.alpha > 0, 255, 0).astype(np.uint8)).save(path.parent / f"{path.stem}_mask.png")
    return path


def make_shoot(folder: Path, *, broken: bool) -> Path:
    """A white-seamless JPEG and a coloured-paper PNG with their masks, a dark-backdrop JPEG
    without one (the segmenter finds the subject), and optionally a truncated JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    _save(folder / "a_white.jpg", "white_seamless")
    _save(folder / "b_paper.png", "coloured_paper")
    _save(folder / "c_dark.jpg", "dark_backdrop", mask=False)
    if broken:
        data = (folder / "a_white.jpg").read_bytes()
        (folder / "d_broken.jpg").write_bytes(data[: len(data) // 3])
    return folder


def cleaned(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*_clean.*"))


def outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def markdown(nb: dict) -> str:
    return "\n".join("".join(o.get("data", {}).get("text/markdown", "")) for o in outputs(nb))


def table_rows(md: str) -> dict[str, dict[str, str]]:
    """The per-image table of a report: image name -> column -> cell."""
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    head = next(i for i, ln in enumerate(lines) if ln.startswith("| image | status |"))
    cols = [c.strip() for c in lines[head].strip("|").split("|")]
    rows = {}
    for ln in lines[head + 1:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if len(cells) != len(cols):
            break
        rows[cells[0]] = dict(zip(cols, cells))
    return rows


def error_text(nb: dict) -> str:
    return "\n".join(f"{o['ename']}: {o['evalue']}" for o in outputs(nb) if o["output_type"] == "error")


@pytest.fixture(scope="module")
def kernel():
    """The kernel papermill starts: ``backdrop`` when registered for this Python (make install),
    else this interpreter's ``python3``. Kernels run one torch thread (tiny images) and
    inherit the private mask cache of conftest."""
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    yield kernel_name()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def run_batch_notebook(kernel: str, report: Path, **parameters) -> dict:
    pm.execute_notebook(str(ROOT / "notebooks" / "batch.ipynb"), str(report), parameters=parameters,
                        kernel_name=kernel, progress_bar=False, cwd=str(ROOT))
    return json.loads(report.read_text())


# --------------------------------------------------------------------------- committed notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, path.name
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip the outputs (make strip-notebooks)"
    assert "widgets" not in nb["metadata"], f"{path.name}: strip the widget state (make strip-notebooks)"
    assert nb["metadata"]["kernelspec"]["name"] == "backdrop"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"


def test_both_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"tune.ipynb", "batch.ipynb"}


def test_batch_parameters_are_plain_annotated_literals():
    params = pm.inspect_notebook(str(ROOT / "notebooks" / "batch.ipynb"))
    got = {k: (v["inferred_type_name"], v["default"]) for k, v in params.items()}
    assert got["input_dir"] == ("str", '"samples"')
    assert got["params_file"] == ("str", '"params/default.yaml"')
    assert got["output_dir"] == ("str", '""')
    assert got["limit"] == ("int", "0")


# --------------------------------------------------------------------------- the batch report
def papermill_cli(kernel: str, report: Path, **parameters) -> subprocess.CompletedProcess:
    """papermill's own command line, with the package's engine, as a user runs the report."""
    exe = Path(sys.executable).with_name("papermill")
    args = [str(exe), "--engine", "backdrop", "--kernel", kernel, "--no-progress-bar",
            str(ROOT / "notebooks" / "batch.ipynb"), str(report)]
    for k, v in parameters.items():
        args += ["-p", k, str(v)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def broken_shoot_report(tmp_path_factory, kernel):
    shoot = make_shoot(tmp_path_factory.mktemp("shoot"), broken=True)
    report = shoot.parent / "report.ipynb"
    run = papermill_cli(kernel, report, input_dir=shoot, params_file="params/default.yaml")
    return shoot, json.loads(report.read_text()), run


def test_report_cleans_the_folder_keeping_icc_and_exif(broken_shoot_report):
    shoot, _, _ = broken_shoot_report
    outs = {p.name for p in cleaned(shoot)}
    assert outs == {"a_white_clean.jpg", "b_paper_clean.png", "c_dark_clean.jpg"}
    for name in outs:
        with Image.open(shoot / name) as im:
            assert im.size == SIZE
            assert im.info.get("icc_profile") == SRGB_ICC, name
            assert im.getexif().get(271) == f"Make-{name.split('_clean')[0]}", name
    # the originals are untouched
    assert not (shoot / "d_broken_clean.jpg").exists()


def test_report_table_per_image(broken_shoot_report):
    _, nb, _ = broken_shoot_report
    md = markdown(nb)
    assert "| params_file |" in md and "params/default.yaml" in md and "| lift | 70.0 |" in md
    rows = table_rows(md)
    assert set(rows) == {"a_white.jpg", "b_paper.png", "c_dark.jpg", "d_broken.jpg"}
    for name in ("a_white.jpg", "b_paper.png", "c_dark.jpg"):
        r = rows[name]
        assert r["status"] == "done" and r["size"] == "240x160"
        assert float(r["time (s)"]) > 0
        # the cleanup lowers the defect score and never widens the backdrop's spread much
        assert float(r["defects after"]) < float(r["defects before"]), r
        assert float(r["spread after"]) <= float(r["spread before"]) + 1.0, r
    assert rows["a_white.jpg"]["segmenter"] == "mask" and rows["c_dark.jpg"]["segmenter"] == "embedded"
    # a cast shadow on white paper is most of the spread: lifting it narrows the spread clearly
    assert float(rows["a_white.jpg"]["spread after"]) < 0.8 * float(rows["a_white.jpg"]["spread before"])
    assert rows["d_broken.jpg"]["status"] == "failed"
    assert "4 images: done 3, skipped 0, failed 1" in md


def test_report_thumbnails_and_failures(broken_shoot_report):
    _, nb, _ = broken_shoot_report
    jpegs = [o["data"]["image/jpeg"] for o in outputs(nb) if "image/jpeg" in o.get("data", {})]
    assert len(jpegs) == 3  # one before/after pair per cleaned image, large enough to judge a backdrop
    for data in jpegs:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.height >= 480 + 24 and im.width >= 2 * 480 * SIZE[0] / SIZE[1]
            caption = np.asarray(im.convert("L"))[:24]
            assert (caption < 128).mean() > 0.01  # the "before: NAME" / "after: NAME" labels
    md = markdown(nb)
    assert md.count("before (left), after (right)") == 3
    assert "**1 of 4 images failed**" in md
    assert re.search(r"\| d_broken\.jpg \| .*d_broken\.jpg.*\|", md), "the failure's reason names the file"


def test_a_run_with_a_failed_photo_reads_as_a_record_not_a_crash(broken_shoot_report):
    """papermill --engine backdrop: no red banner, no error box, code hidden; one console line
    and exit status 1."""
    _, nb, run = broken_shoot_report
    assert run.returncode == 1
    said = [line for line in run.stderr.splitlines() if line.strip()]
    assert said[-1] == "FilesFailed: 1 of 4 images failed: d_broken.jpg (reasons in the report)"
    assert "Traceback" not in run.stderr and "WARNING" not in run.stderr
    assert "".join(nb["cells"][0]["source"]).startswith("# Batch report")  # no banner above it
    assert not [c for c in nb["cells"] if "papermill-error-cell-tag" in c["metadata"].get("tags", [])]
    assert not [o for o in outputs(nb) if o["output_type"] == "error"]
    assert nb["metadata"]["papermill"]["exception"] is False
    assert nb["metadata"]["backdrop"]["ended"]["ename"] == "FilesFailed"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["metadata"]["jupyter"]["source_hidden"] for c in code)


def test_a_wrong_parameter_with_the_engine_is_one_line_in_the_report_and_on_the_console(tmp_path, kernel):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    params_file = tmp_path / "params.yaml"
    params_file.write_text("lift: 300\n")
    report = tmp_path / "report.ipynb"
    run = papermill_cli(kernel, report, input_dir=shoot, params_file=params_file, output_dir=tmp_path / "out")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    line = "BackdropError: " + f"{params_file}: parameter 'lift': 300 is outside 0..100"
    assert run.stderr.strip().splitlines()[-1] == line
    nb = json.loads(report.read_text())
    assert not [c for c in nb["cells"] if "papermill-error-cell-tag" in c["metadata"].get("tags", [])]
    assert error_text(nb) == line
    assert cleaned(tmp_path) == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "case, expect",
    [
        ("bad_params", r"params\.yaml.*parameter 'lift': 300(\.0)? is outside 0\.\.100"),
        ("missing_input", r"input_dir '.*nowhere': folder not found"),
    ],
    ids=["bad_params_file", "missing_input_dir"],
)
def test_wrong_parameter_fails_readably_and_writes_nothing(tmp_path, kernel, case, expect):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    params_file = tmp_path / "params.yaml"
    params_file.write_text("lift: 300\n" if case == "bad_params" else "lift: 80\n")
    report = tmp_path / "report.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_batch_notebook(kernel, report, input_dir=str(shoot if case == "bad_params" else tmp_path / "nowhere"),
                           params_file=str(params_file), output_dir=str(tmp_path / "out"))
    assert err.value.ename == "BackdropError"
    assert re.search(expect, err.value.evalue), err.value.evalue
    assert "\n" not in err.value.evalue
    nb = json.loads(report.read_text())
    assert re.search(expect, error_text(nb))  # the message is in the executed notebook
    assert cleaned(tmp_path) == [] and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- backdrop batch --report
def test_cli_report_route(tmp_path, kernel, capsys):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    _save(shoot / "a_white.jpg", "white_seamless")
    _save(shoot / "b_paper.png", "coloured_paper")
    out = tmp_path / "out"
    out.mkdir()  # as for any batch, the output folder must exist
    report = tmp_path / "report.ipynb"
    code = main(["batch", str(shoot), "-o", str(out), "--report", str(report), "--lift", "90", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 images: done 2, skipped 0, failed 0" in printed and str(report) in printed
    assert {p.name for p in cleaned(out)} == {"a_white_clean.jpg", "b_paper_clean.png"}
    assert cleaned(shoot) == []
    # --lift changed the parameter set: the set the run used is kept beside the report, and recorded in it
    used = Params.load(tmp_path / "report.params.yaml")
    assert used == Params(lift=90)
    md = markdown(json.loads(report.read_text()))
    assert "| lift | 90.0 |" in md and set(table_rows(md)) == {"a_white.jpg", "b_paper.png"}


def test_cli_report_route_exits_1_when_an_image_failed(tmp_path, kernel, capsys):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    data = _save(shoot / "a_white.jpg", "white_seamless").read_bytes()
    (shoot / "b_broken.jpg").write_bytes(data[: len(data) // 3])
    report = tmp_path / "report.ipynb"
    assert main(["batch", str(shoot), "--report", str(report), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "2 images: done 1, skipped 0, failed 1" in captured.out
    assert captured.err.strip() == "FilesFailed: 1 of 2 images failed: b_broken.jpg (reasons in the report)"
    assert [p.name for p in cleaned(shoot)] == ["a_white_clean.jpg"]
    assert table_rows(markdown(json.loads(report.read_text())))["b_broken.jpg"]["status"] == "failed"


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["{tmp}/nowhere"], "nowhere: folder not found"),
        (["{shoot}", "--params", "{tmp}/missing.yaml"], "missing.yaml: parameter file not found"),
        (["{shoot}", "--set", "texture=500"], "parameter 'texture'"),
        (["{shoot}", "-o", "{tmp}/no_such_out"], "no_such_out: output folder not found"),  # as without --report
    ],
    ids=["missing_folder", "missing_params_file", "bad_value", "missing_output_folder"],
)
def test_cli_report_route_user_errors(tmp_path, capsys, argv, expect):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    report = tmp_path / "report.ipynb"
    args = [a.format(tmp=tmp_path, shoot=shoot) for a in argv]
    assert main(["batch", *args, "--report", str(report)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("backdrop: error:") and expect in err and "\n" not in err
    assert not report.exists() and cleaned(tmp_path) == []
    assert not (tmp_path / "no_such_out").exists()  # never created


# --------------------------------------------------------------------------- checks, in process
def test_check_batch_inputs_names_the_parameter(tmp_path, monkeypatch):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    with pytest.raises(BackdropError, match=r"params_file 'nope\.yaml': parameter file not found"):
        check_batch_inputs(str(shoot), "nope.yaml")
    (tmp_path / "typo.yaml").write_text("lfit: 80\n")
    with pytest.raises(BackdropError, match=r"typo\.yaml: unknown parameter 'lfit'"):
        check_batch_inputs(str(shoot), str(tmp_path / "typo.yaml"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackdropError, match=r"input_dir '.*empty': no images"):
        check_batch_inputs(str(tmp_path / "empty"), "params/default.yaml")
    with pytest.raises(BackdropError, match="limit"):
        check_batch_inputs(str(shoot), "params/default.yaml", limit=-1)
    # run from elsewhere, the repository's params/default.yaml is still found; limit takes the first N
    monkeypatch.chdir(tmp_path)
    run = check_batch_inputs("shoot", "params/default.yaml", "done", limit=2)
    assert run.params_file == ROOT / "params" / "default.yaml" and run.input_dir == shoot
    assert run.output_dir == tmp_path / "done" and [p.name for p in run.images] == ["a_white.jpg", "b_paper.png"]


def test_bundled_samples_are_never_written_beside():
    run = check_batch_inputs(str(ROOT / "samples"), "params/default.yaml")
    assert run.output_dir == ROOT / "out" / "samples"


def test_backdrop_stats_follow_the_cleanup():
    from backdrop import clean

    s = _scene("white_seamless")
    before = backdrop_stats(clean(s.image, Params(lift=0, texture=0), s.alpha))
    assert before["defects_after"] == pytest.approx(before["defects_before"], abs=0.02)
    full = backdrop_stats(clean(s.image, Params(lift=100, texture=100), s.alpha))
    assert full["defects_after"] < 0.3 * full["defects_before"]
    assert full["spread_after"] < 0.6 * full["spread_before"]
    c = _scene("clean_nothing")
    calm = backdrop_stats(clean(c.image, Params(), c.alpha))
    assert calm["defects_before"] < 0.2 * full["defects_before"] and calm["defects_after"] <= calm["defects_before"]


# --------------------------------------------------------------------------- tune
def test_tune_notebook_executes(tmp_path, kernel):
    image = _save(tmp_path / "frame.jpg", "grey_wall_wood_floor")
    out = tmp_path / "tune.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "tune.ipynb"), str(out), kernel_name=kernel,
                        parameters=dict(image=str(image), preview_edge=240), progress_bar=False, cwd=str(ROOT))
    nb = json.loads(out.read_text())
    assert error_text(nb) == ""
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"] for m in state.values()}
    assert {"FloatSliderModel", "ToggleButtonsModel", "ButtonModel"} <= models
    pngs = [o for m in state.values() if m["model_name"] == "OutputModel"
            for o in m["state"].get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) == 2  # the four views, and the histograms / layers / masks
    printed = "".join("".join(o.get("text", "")) for o in outputs(nb))
    assert Params.from_dict(__import__("yaml").safe_load(printed)) == Params()


def test_tuner_sliders_redraw_and_save(tmp_path):
    image = _save(tmp_path / "frame.jpg", "white_seamless")
    tuner = Tuner(image, long_edge=240, params_dir=tmp_path / "params")
    assert tuner.image.shape[-2:] == (160, 240) and tuner.segmenter == "mask"
    first = tuner.result.preview.clone()
    tuner.lift.value = 0
    tuner.texture.value = 0
    # lift and texture at 0: the preview is the original
    assert tuner.result.params.lift == 0 and tuner.result.params.texture == 0
    assert float((tuner.result.preview - tuner.image).abs().max()) < 1e-4
    assert float((first - tuner.image).abs().max()) > 0.05  # the defaults did lift the shadow
    tuner.lift.value = 85
    tuner.feather.value = 0.05
    tuner.floor.value = "off"
    assert "redrawn in" in tuner.status.value
    assert len(tuner.views_out.outputs) == 1 and len(tuner.analysis_out.outputs) == 1
    # Save writes params/<name>.yaml with what the sliders show; the batch reads it unchanged
    tuner.name.value = "white_seamless_shoot"
    tuner.save_button.click()
    saved = tmp_path / "params" / "white_seamless_shoot.yaml"
    assert "saved" in tuner.status.value
    assert Params.load(saved) == Params(lift=85, texture=0, feather=0.05, floor="off")
    # a bad name is one line in the panel, nothing written
    for bad in ("../escape", "default", ""):
        tuner.name.value = bad
        tuner.save_button.click()
        assert "save as" in tuner.status.value
    assert sorted(p.name for p in (tmp_path / "params").iterdir()) == ["white_seamless_shoot.yaml"]


# --------------------------------------------------------------------------- parameter sets
def test_parameter_sets_load_and_clean_their_scene():
    """The sets in params/ are valid, and each one cleans its kind of backdrop at least as well as
    the defaults (defect score of bench/scenes' matching scene, at test size)."""
    from backdrop import clean

    default = Params.load(ROOT / "params" / "default.yaml")
    for name in ("white_seamless", "grey_wall_wood_floor", "coloured_paper", "dark_backdrop"):
        own = Params.load(ROOT / "params" / f"{name}.yaml")
        s = _scene(name)
        mine = backdrop_stats(clean(s.image, own, s.alpha, views=("preview",)))
        base = backdrop_stats(clean(s.image, default, s.alpha, views=("preview",)))
        assert mine["defects_after"] <= base["defects_after"] + 0.02, (name, mine, base)


def test_tune_save_goes_beside_the_notebook_not_into_the_package(tmp_path, monkeypatch):
    """Without a folder given, Save writes into the current folder (JupyterLab: the notebook's own),
    never into the installed package's params/, and says where."""
    image = _save(tmp_path / "frame.jpg", "white_seamless")
    work = tmp_path / "my_shoot"
    work.mkdir()
    monkeypatch.chdir(work)
    tuner = Tuner(image, long_edge=160)
    tuner.name.value = "look"
    tuner.save_button.click()
    assert (work / "look.yaml").is_file() and str(work / "look.yaml") in tuner.status.value
    assert not (ROOT / "params" / "look.yaml").exists()


def test_report_on_a_dask_cluster_says_how_many_workers_ran(tmp_path, kernel):
    """The ``cluster`` parameter: the batch runs on a local Dask cluster, and the report's totals say
    on how many workers, with the time per photo."""
    pytest.importorskip("distributed")
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    out = tmp_path / "out"
    nb = run_batch_notebook(kernel, tmp_path / "report.ipynb", input_dir=str(shoot), output_dir=str(out),
                            params_file="params/default.yaml", cluster="local:2")
    md = markdown(nb)
    assert re.search(r"3 images: done 3, skipped 0, failed 0\*\*; [\d.]+ s in all, [\d.]+ s per image, "
                     r"on a Dask cluster of 2 workers", md), md[-400:]
    assert {p.name for p in cleaned(out)} == {"a_white_clean.jpg", "b_paper_clean.png", "c_dark_clean.jpg"}
