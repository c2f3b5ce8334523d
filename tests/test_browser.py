"""report.html in a real browser (Debian's headless chromium): it loads with no console messages, and a
screenshot shows the rendered page. Skipped with the reason where chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--enable-logging=stderr",
    "--v=0",
)
# chromium logs every console message (console.error, uncaught exceptions...) as ":INFO:CONSOLE" on stderr
CONSOLE_LINE = re.compile(r":CONSOLE(?::\d+)?\]\s*(.*)")
TINY = {"channels": (8, 16, 16, 16), "depths": (1, 1, 1, 1), "stem_chans": 8, "heatmap_chans": 8}


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    return [match.group(1) for match in map(CONSOLE_LINE.search, stderr.splitlines()) if match]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    """A full report folder made by a tiny untrained model on a short synthetic run."""
    import torch

    from stenoscope.models import create_model
    from stenoscope.report import analyze
    from stenoscope.synth import synthesize

    torch.manual_seed(0)
    model = create_model("default", heatmap_head=True, **TINY)
    clip = synthesize(seed=2, n_frames=8, size=160).clip
    folder = analyze(clip, model=model, long_side=160, name="run").save(
        tmp_path_factory.mktemp("report") / "run"
    )
    return folder / "report.html"


def test_console_errors_are_detected(tmp_path):
    """The check below can fail: a page that throws is caught by the same parsing."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><p>x</p><script>console.error("bad"); throw new Error("boom");</script>')
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    messages = console_messages(result.stderr)
    assert any("bad" in message for message in messages)
    assert any("Uncaught Error: boom" in message for message in messages)


def test_report_loads_without_console_messages_and_renders(report_html, tmp_path):
    dom = chromium(report_html, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    for expected in (
        "stenoscope report: run",
        'id="decision"',
        "<svg",
        "Key frames",
        "Animated clip",
        "Model card summary",
        "Research use only",
    ):
        assert expected in dom.stdout
    assert (
        dom.stdout.count('src="data:image/png;base64,') == 5 and 'src="data:image/gif;base64,' in dom.stdout
    )

    screenshot = tmp_path / "page.png"
    shot = chromium(
        report_html, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1200,2000"
    )
    assert shot.returncode == 0 and console_messages(shot.stderr) == []
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(np.int16)
    assert pixels.shape[:2] == (2000, 1200)
    assert pixels.std() > 20  # not a blank page
    # the decision badge (pale red or pale green) and the disclaimer's orange border were painted
    badge = np.array([[0xFD, 0xE2, 0xE1], [0xE3, 0xF4, 0xE6]])
    assert min(np.abs(pixels - colour).sum(axis=-1).min() for colour in badge) <= 6
    assert (np.abs(pixels - np.array([0xF0, 0xA0, 0x40])).sum(axis=-1) <= 12).any()
    # the embedded angiogram frames are drawn: many mid-grey pixels (R = G = B, not white, not black)
    grey = (np.ptp(pixels, axis=-1) <= 2) & (pixels[..., 0] > 40) & (pixels[..., 0] < 220)
    assert grey.mean() > 0.05
