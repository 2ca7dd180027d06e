"""The upgrade matrix and bisect on a planted case: a tiny package `planted-bug` with releases made here as
wheels in a local folder (installed with --no-index --find-links, no package index), and a corpus entry
whose repro.py calls it.  Release 1.0.0 has the bug; which later one fixes it, or fails earlier instead,
each test says.  One test replays a real entry in a real neighbour environment, where that is built."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roundtrip import cli
from roundtrip.convert import envs
from roundtrip.report import bisection, matrix, matrix_report, reports
from roundtrip.report.matrix import Cell, Column, Matrix, Row
from roundtrip.store import corpus

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

BUG = 'def convert():\n    raise ValueError("planted: the bug")\n'
FIXED = "def convert():\n    return 1\n"
EARLIER = 'def convert():\n    check()\n    raise ValueError("planted: the bug")\n\n\ndef check():\n    raise TypeError("planted: a new failure before the bug")\n'  # noqa: E501
ELSEWHERE = BUG + 'raise ValueError("planted: the same type, raised on import, before convert")\n'


def wheel(folder: Path, version: str, core: str) -> Path:
    """A wheel of planted-bug `version` whose planted_bug/core.py is `core`."""
    dist = f"planted_bug-{version}.dist-info"
    files = {"planted_bug/__init__.py": "from planted_bug.core import convert\n", "planted_bug/core.py": core,
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: planted-bug\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: roundtrip-tests\nRoot-Is-Purelib: true\n"
                               "Tag: py3-none-any\n"}
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"planted_bug-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def planted_entry(root: Path) -> Path:
    """A copy of a real ONNX -> Keras entry whose finding is a ValueError raised in planted_bug.core.convert,
    and whose repro.py calls it."""
    source = next(e for e in reports.load_entries(ROOT / "corpus")[0]
                  if e.meta.get("back") == "onnx2keras" and e.finding.kind == "ValueError")
    folder = root / "planted-load-exception-valueerror"
    shutil.copytree(source.folder, folder)
    meta = json.loads((folder / "meta.json").read_text())
    signature = "planted-bug|load|exception|ValueError|planted_bug.core:convert"
    meta["finding"] |= {"where": "planted_bug.core:convert", "message": "planted: the bug", "signature": signature}
    meta["signature"] = signature
    corpus.write_meta(folder, meta)
    (folder / "repro.py").write_text("import planted_bug\n\nplanted_bug.convert()\n")
    return folder


@pytest.fixture
def planted(tmp_path: Path) -> dict[str, Path]:
    """A corpus holding the planted entry, a pins folder, an environments cache and a wheels folder."""
    pins = tmp_path / "envs"
    pins.mkdir()
    planted_entry(tmp_path / "corpus")
    return {"corpus": tmp_path / "corpus", "pins": pins, "cache": tmp_path / "cache", "wheels": tmp_path / "wheels",
            "reports": tmp_path / "reports"}


def local(paths: dict[str, Path]) -> list[str]:
    return ["--corpus", str(paths["corpus"]), "--pins", str(paths["pins"]), "--cache", str(paths["cache"]),
            "--no-index", "--find-links", str(paths["wheels"])]


# ---- the matrix ---------------------------------------------------------------------------------------
def test_replay_in_environments_sorts_shows_fixed_changed_and_marks_a_pin_file_that_does_not_install(
        planted: dict[str, Path]) -> None:
    for version, core in [("1.0.0", BUG), ("1.1.0", FIXED), ("1.2.0", EARLIER), ("1.3.0", ELSEWHERE)]:
        wheel(planted["wheels"], version, core)
        (planted["pins"] / f"v{version}.txt").write_text(f"planted-bug=={version}\n")
    (planted["pins"] / "broken.txt").write_text("planted-bug==9.9.9\n")  # no such release in the folder
    names = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "broken"]
    result = runner.invoke(cli.app, ["replay", *[a for n in names for a in ("--env", n)], *local(planted),
                                     "--reports", str(planted["reports"])])
    assert result.exit_code == 2, result.output  # an environment did not install
    data = json.loads((planted["reports"] / "matrix.json").read_text())
    (row,) = data["entries"]
    assert {k: v["status"] for k, v in row["cells"].items()} == {
        "v1.0.0": "shows", "v1.1.0": "fixed", "v1.2.0": "changed", "v1.3.0": "changed", "broken": "cannot"}
    assert "raised TypeError, the finding is ValueError" in row["cells"]["v1.2.0"]["why"]
    assert "not in planted_bug.core:convert" in row["cells"]["v1.3.0"]["why"]
    broken = next(e for e in data["environments"] if e["name"] == "broken")
    assert not broken["usable"] and "planted-bug" in broken["why"] and "9.9.9" in broken["why"]
    assert "did not install" in row["cells"]["broken"]["why"]
    changes = {(c["to_env"], c["before"], c["after"]) for c in data["changes"]}
    assert changes == {("v1.1.0", "shows", "fixed"), ("v1.2.0", "shows", "changed"), ("v1.3.0", "shows", "changed")}
    fixed = next(c for c in data["changes"] if c["to_env"] == "v1.1.0")
    assert fixed["from_env"] == "v1.0.0" and fixed["versions"] == {"planted-bug": ["1.0.0", "1.1.0"]}
    markdown = (planted["reports"] / "matrix.md").read_text()
    assert "shows on v1.0.0 -> fixed on v1.1.0 (planted-bug 1.0.0 -> 1.1.0)" in markdown
    assert "`broken` did not install" in markdown
    assert "planted-bug" in (planted["reports"] / "matrix.html").read_text()


def test_environments_are_reused_until_their_pin_file_changes(planted: dict[str, Path]) -> None:
    wheel(planted["wheels"], "1.0.0", BUG)
    wheel(planted["wheels"], "1.1.0", FIXED)
    pins = planted["pins"] / "p.txt"
    pins.write_text("planted-bug==1.0.0\n")
    sources = ("--no-index", "--find-links", str(planted["wheels"]))
    env = envs.Env("p", pins, planted["cache"] / "p", sources)
    first = envs.build(env)
    again = envs.build(env)
    assert first.usable and not first.cached and first.versions == again.versions == {"planted-bug": "1.0.0"}
    assert again.cached and again.python == first.python
    pins.write_text("planted-bug==1.1.0\n")
    changed = envs.build(env)
    assert not changed.cached
    assert envs.versions_in(str(changed.python), ["planted-bug"]) == {"planted-bug": "1.1.0"}


def test_an_unknown_environment_is_one_line_naming_the_pin_file_and_status_2(planted: dict[str, Path]) -> None:
    (planted["pins"] / "real.txt").write_text("planted-bug==1.0.0\n")
    result = runner.invoke(cli.app, ["replay", "--env", "nope", *local(planted)[:6]])
    assert result.exit_code == 2
    line = " ".join(result.output.split())
    assert "unknown environment 'nope'" in line and "nope.txt" in line and "real" in line
    assert "Traceback" not in result.output


def test_status_changes_are_against_the_home_environment_and_leave_out_cells_that_cannot_run() -> None:
    columns = [Column(n, f"envs/{n}.txt", True, {"onnxruntime": v}, 1.0, True) for n, v in
               [("pinned", "1.31.1"), ("onnx2tf", "1.23.0"), ("ort", "1.32.0")]]
    rows = [Row("a", "s", "pinned", {"pinned": Cell("shows"), "onnx2tf": Cell("cannot", "needs onnx2keras"),
                                     "ort": Cell("fixed")}),
            Row("b", "s", "onnx2tf", {"pinned": Cell("cannot"), "onnx2tf": Cell("shows"), "ort": Cell("cannot")}),
            Row("c", "s", "onnx2tf", {"pinned": Cell("fixed"), "onnx2tf": Cell("cannot"), "ort": Cell("shows")})]
    found = matrix.changes(Matrix(columns, rows))
    assert [(c.entry, c.from_env, c.to_env, c.before, c.after) for c in found] == [
        ("a", "pinned", "ort", "shows", "fixed"), ("c", "pinned", "ort", "fixed", "shows")]
    assert found[0].versions == {"onnxruntime": ("1.31.1", "1.32.0")}


def test_versions_differ_by_package_not_by_how_a_pin_file_spells_its_name() -> None:
    assert matrix.differing({"ml_dtypes": "0.5.1", "Markdown": "3.11.3", "onnx": "1.19.1"},
                            {"ml-dtypes": "0.5.1", "markdown": "3.11.3", "onnx": "1.19.0", "wheel": "0.48.0"}) == {
        "onnx": ("1.19.1", "1.19.0"), "wheel": ("-", "0.48.0")}


def test_report_writes_the_matrix_pages_again_from_its_json_and_links_them(planted: dict[str, Path]) -> None:
    columns = [Column(n, f"envs/{n}.txt", True, {"onnxruntime": v, "ml_dtypes": "0.5.1"}, 1.0, True)
               for n, v in [("pinned", "1.31.1"), ("ort", "1.32.0")]]
    rows = [Row("a", "s", "pinned", {"pinned": Cell("shows"), "ort": Cell("fixed")})]
    reports_dir = planted["reports"]
    matrix_report.write(Matrix(columns, rows), reports_dir)  # written without its changes
    (reports_dir / "matrix.md").unlink()
    result = runner.invoke(cli.app, ["report", "--corpus", str(planted["corpus"]), "--reports", str(reports_dir)])
    assert result.exit_code == 0, result.output
    written = (reports_dir / "matrix.md").read_text()
    assert "`a`: shows on pinned -> fixed on ort (onnxruntime 1.31.1 -> 1.32.0)" in written
    assert '<a href="matrix.html">upgrade matrix</a>' in (reports_dir / "index.html").read_text()
    (reports_dir / "matrix.json").write_text('{"schema": 1, "environments": []}')
    result = runner.invoke(cli.app, ["report", "--corpus", str(planted["corpus"]), "--reports", str(reports_dir)])
    assert result.exit_code == 2 and "matrix.json" in result.output


# ---- bisect -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixed", ["1.1.0", "1.2.0"])
def test_bisect_names_the_release_that_fixed_a_planted_bug_and_records_it(planted: dict[str, Path],
                                                                          fixed: str) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        wheel(planted["wheels"], version, FIXED if version >= fixed else BUG)
    (planted["pins"] / "base.txt").write_text("planted-bug==1.0.0\n")
    result = runner.invoke(cli.app, ["bisect", "planted-load", "--package", "planted-bug", "--env", "base",
                                     *local(planted), "--reports", str(planted["reports"])])
    assert result.exit_code == 0, result.output
    before = "1.0.0" if fixed == "1.1.0" else "1.1.0"
    assert f"fixed in planted-bug {fixed} (shows on {before}, fixed on {fixed})" in " ".join(result.output.split())
    folder = next(planted["corpus"].iterdir())
    history = json.loads((folder / "meta.json").read_text())["history"]["planted-bug"]
    assert history["fixed_in"] == fixed and history["last_before"] == before and history["base"] == "base"
    assert history["checked"]["1.0.0"] == "shows" and history["checked"]["1.2.0"] == "fixed"
    assert f"fixed in planted-bug {fixed} (shows on {before}, fixed on {fixed})" in (folder / "issue.md").read_text()
    assert (planted["cache"] / "bisect" / f"base--planted-bug-{fixed}").is_dir()  # kept for the next bisect


def test_bisect_names_the_release_since_which_a_bug_shows(planted: dict[str, Path]) -> None:
    for version, core in [("1.0.0", FIXED), ("1.1.0", FIXED), ("1.2.0", BUG), ("1.3.0", BUG)]:
        wheel(planted["wheels"], version, core)
    (planted["pins"] / "base.txt").write_text("planted-bug==1.0.0\n")
    result = runner.invoke(cli.app, ["bisect", "planted-load", "--package", "planted-bug", "--env", "base",
                                     "--from", "1.0.0", "--to", "1.3.0", *local(planted),
                                     "--reports", str(planted["reports"])])
    assert result.exit_code == 0, result.output
    assert "shows since planted-bug 1.2.0 (fixed on 1.1.0, shows on 1.2.0)" in " ".join(result.output.split())


def test_bisect_of_a_package_with_no_release_in_the_range_is_one_line_and_status_2(planted: dict[str, Path]) -> None:
    for version in ("1.0.0", "1.1.0"):
        wheel(planted["wheels"], version, BUG)
    (planted["pins"] / "base.txt").write_text("planted-bug==1.0.0\n")
    result = runner.invoke(cli.app, ["bisect", "planted-load", "--package", "planted-bug", "--env", "base",
                                     "--from", "2.0", "--to", "3.0", *local(planted)])
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert "no release of planted-bug from 2.0 to 3.0" in line and "1.1.0, 1.0.0" in line


def test_releases_between_orders_by_version_and_leaves_out_pre_releases() -> None:
    listed = ["1.29.10", "1.29.9", "1.30.0rc1", "1.29.2", "1.28.0"]
    assert bisection.releases_between(listed, "1.29.2", None) == ["1.29.2", "1.29.9", "1.29.10"]
    assert bisection.releases_between(listed, None, "1.29.9") == ["1.28.0", "1.29.2", "1.29.9"]


def test_pip_makes_the_environment_where_uv_is_absent(planted: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envs, "uv", lambda: None)
    wheel(planted["wheels"], "1.0.0", BUG)
    pins = planted["pins"] / "p.txt"
    pins.write_text("planted-bug==1.0.0\n")
    built = envs.build(envs.Env("p", pins, planted["cache"] / "p", ("--no-index", "--find-links",
                                                                     str(planted["wheels"]))))
    assert built.usable and built.versions == {"planted-bug": "1.0.0"}
    assert json.loads((planted["cache"] / "p" / envs.STAMP).read_text())["installer"] == "pip"
    assert (planted["cache"] / "p" / "bin" / "pip").exists()  # made by venv, not uv


# ---- a real entry in a real neighbour environment -----------------------------------------------------
@pytest.mark.slow
def test_the_dynamic_same_pooling_entry_shows_on_the_pinned_stack_and_not_with_tf2onnx_1_16_1(
        tmp_path: Path) -> None:
    """tf2onnx's dynamic 'same' AveragePooling1D graph: ONNX Runtime 1.31.1 refuses its negative pads, the
    tf2onnx 1.16.1 environment (onnxruntime 1.26.0) runs it.  Both environments must be built."""
    built = {}
    for name in ("pinned", "tf2onnx-1.16.1"):
        found = envs.made(envs.named(name))
        if found is None:
            pytest.skip(f"environment {name} is not built: `roundtrip replay --env {name}` builds it (seconds with "
                        "uv's cache, about a minute without)")
        built[name] = found
    entry = next(e for e in reports.load_entries(ROOT / "corpus")[0]
                 if e.folder.name.startswith("tf2onnx-run-exception-runtimeexception-90ef5abbc6"))
    assert built["pinned"].python and built["tf2onnx-1.16.1"].python
    assert matrix.run_cell(entry, built["pinned"].python).status == "shows"
    assert matrix.run_cell(entry, built["tf2onnx-1.16.1"].python).status == "fixed"
