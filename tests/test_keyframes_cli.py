"""``stenoscope keyframes`` and ``stenoscope evaluate-keyframes`` in-process, on small synthetic clips."""

from __future__ import annotations

import numpy as np
import pytest

from stenoscope.io import write_clip
from stenoscope.synth import synthesize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JSON_KEYS = {"n_frames", "key_frame", "key_frames", "scores", "method", "seconds"}


@pytest.fixture(scope="module")
def synthetic_clips(tmp_path_factory):
    """Three small synthetic runs saved as .npy, and a reference CSV with relative clip paths."""
    folder = tmp_path_factory.mktemp("keyframes")
    (folder / "clips").mkdir()
    rows = ["clip,key_frame"]
    truths = []
    for seed in (1, 2, 3):
        run = synthesize(seed, n_frames=16, size=96, text=bool(seed % 2))
        write_clip(run.clip, folder / "clips" / f"run{seed}.npy")
        rows.append(f"clips/run{seed}.npy,{run.truth.key_frame}")
        truths.append(run.truth.key_frame)
    (folder / "reference.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, truths


def test_keyframes_json_has_exactly_the_documented_keys(cli, synthetic_clips):
    folder, _ = synthetic_clips
    result = cli("keyframes", folder / "clips" / "run1.npy", "--json", "--count", "3")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) == JSON_KEYS
    assert data["n_frames"] == 16
    assert len(data["scores"]) == 16
    assert len(data["key_frames"]) == 3
    assert data["key_frames"] == sorted(data["key_frames"])
    assert data["key_frame"] in data["key_frames"]
    assert data["method"] == "default"


def test_keyframes_summary_line_and_plot(cli, synthetic_clips, tmp_path):
    folder, _ = synthetic_clips
    plot = tmp_path / "out" / "keys.png"
    result = cli("keyframes", folder / "clips" / "run2.npy", "--plot", plot)
    assert result.code == 0, result.err
    assert result.out.startswith("key frame ")
    assert plot.read_bytes().startswith(PNG_MAGIC)
    assert [path.name for path in plot.parent.iterdir()] == ["keys.png"]  # no temporary file left


def test_keyframes_paper_method_from_the_cli(cli, synthetic_clips):
    folder, _ = synthetic_clips
    result = cli("keyframes", folder / "clips" / "run3.npy", "--method", "paper", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["method"] == "paper"
    assert 16 // 3 <= data["key_frame"] < 2 * 16 // 3


def test_keyframes_unknown_method_is_a_one_line_error(cli, synthetic_clips):
    folder, _ = synthetic_clips
    result = cli("keyframes", folder / "clips" / "run1.npy", "--method", "magic")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "unknown key-frame method 'magic'" in result.err


def test_evaluate_keyframes_summarises_distances(cli, synthetic_clips, tmp_path):
    folder, truths = synthetic_clips
    plot = tmp_path / "hist.png"
    result = cli("evaluate-keyframes", folder / "reference.csv", "--json", "--plot", plot)
    assert result.code == 0, result.err
    data = result.json()["methods"]["default"]
    distances = [clip["distance"] for clip in data["clips"]]
    assert [clip["reference"] for clip in data["clips"]] == truths
    assert data["n"] == 3
    assert data["mean"] == pytest.approx(np.mean(distances))
    assert data["sd"] == pytest.approx(np.std(distances, ddof=1))
    assert data["se"] == pytest.approx(np.std(distances, ddof=1) / np.sqrt(3))
    assert data["within"]["5"] >= data["within"]["2"] >= data["within"]["1"] >= data["within"]["0"]
    assert data["within"]["2"] == pytest.approx(np.mean(np.array(distances) <= 2))
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_evaluate_keyframes_writes_a_histogram_by_default(cli, synthetic_clips, tmp_path, monkeypatch):
    folder, _ = synthetic_clips
    monkeypatch.chdir(tmp_path)
    result = cli("evaluate-keyframes", folder / "reference.csv")
    assert result.code == 0, result.err
    assert (tmp_path / "reference_distances.png").read_bytes().startswith(PNG_MAGIC)
    assert "reference_distances.png" in result.err


def test_evaluate_keyframes_both_methods_in_text(cli, synthetic_clips, tmp_path):
    folder, _ = synthetic_clips
    plot = tmp_path / "both.png"
    result = cli("evaluate-keyframes", folder / "reference.csv", "--method", "both", "--plot", plot)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["default", "paper"]
    assert all("mean |auto - reference|" in line and "within 0:" in line for line in lines)
    assert plot.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,frame\nclips/run1.npy,3\n", "columns clip,key_frame"),
        ("clip,key_frame\nclips/run1.npy,three\n", "line 2: key_frame 'three' is not an integer"),
        ("clip,key_frame\nclips/run1.npy,-1\n", "negative"),
        ("clip,key_frame\n", "no reference rows"),
        ("clip,key_frame\nclips/run1.npy,99\n", "outside a 16-frame clip"),
        ("clip,key_frame\nclips/missing.npy,1\n", "missing.npy"),
    ],
)
def test_bad_reference_csv_is_a_one_line_error(cli, synthetic_clips, content, message):
    folder, _ = synthetic_clips
    csv_path = folder / "bad.csv"
    csv_path.write_text(content, encoding="utf-8")
    result = cli("evaluate-keyframes", csv_path)
    assert result.code == 2
    assert result.err.startswith("error: ")
    assert result.err.count("\n") == 1
    assert message in result.err


def test_evaluate_keyframes_missing_csv_and_bad_method(cli, synthetic_clips, tmp_path):
    folder, _ = synthetic_clips
    missing = cli("evaluate-keyframes", tmp_path / "none.csv")
    assert missing.code == 2
    assert "cannot read the reference CSV" in missing.err
    bad_method = cli("evaluate-keyframes", folder / "reference.csv", "--method", "all")
    assert bad_method.code == 2
    assert "--method must be both or one of" in bad_method.err
