"""The files of one report folder: report.json, keyframe_<i>.png, contact_sheet.png, clip.gif, clip.mp4 and
report.html, written together into one atomic folder (``stenoscope._fs.atomic_dir``).
"""

from __future__ import annotations

import io
import json
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stenoscope._fs import atomic_dir
from stenoscope.report import render
from stenoscope.report.results import FrameResult, Report

VIDEO_LONG_SIDE = 512  # per panel in clip.mp4
GIF_LONG_SIDE = 256  # per panel in clip.gif (it is embedded in report.html, so kept small)
SHEET_LONG_SIDE = 256  # per panel in contact_sheet.png
HTML_LONG_SIDE = 512  # per panel of the key frames embedded in report.html
TIMELINE_PX = 6
DEFAULT_FPS = 15.0
CAPTION_PX = 22


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _display(report: Report, heat: np.ndarray) -> np.ndarray:
    """Heat in [0, 1] rescaled so ``report.display_max`` gets the brightest colour."""
    return np.clip(heat / report.display_max, 0.0, 1.0)


def keyframe_image(report: Report, frame: FrameResult) -> np.ndarray:
    """One key frame at full resolution: original | heat-map overlay with boxes and numbered peaks."""
    grey = _uint8_frame(report, frame.index)
    tinted = render.overlay(grey, _display(report, frame.heatmap))
    tinted = render.draw_marks(tinted, frame.peaks, frame.boxes)
    return render.side_by_side(render.grey_to_rgb(grey), tinted)


def _uint8_frame(report: Report, index: int) -> np.ndarray:
    clip = report.clip
    return clip.with_frames(clip.frames[index : index + 1]).as_uint8()[0]


def _caption(rgb: np.ndarray, text: str, height: int = CAPTION_PX) -> np.ndarray:
    strip = Image.new("RGB", (rgb.shape[1], height), (255, 255, 255))
    ImageDraw.Draw(strip).text((4, 3), text, fill=(0, 0, 0), font=_font(height - 8))
    return np.concatenate([np.asarray(strip), rgb], axis=0)


def contact_sheet(report: Report) -> np.ndarray:
    """The key frames in a row (original above, overlay below), captioned with index, probability and vote."""
    columns = []
    size = render.fit_size(report.clip.height, report.clip.width, SHEET_LONG_SIDE)
    scale = size[0] / report.clip.width
    for frame in report.frames:
        grey = _uint8_frame(report, frame.index)
        tinted = render.draw_marks(
            render.resize_rgb(render.overlay(grey, _display(report, frame.heatmap)), size),
            frame.peaks,
            frame.boxes,
            scale,
        )
        original = render.resize_rgb(render.grey_to_rgb(grey), size)
        spacer = np.full((render.PANEL_GAP_PX, size[0], 3), 255, np.uint8)
        column = np.concatenate([original, spacer, tinted], axis=0)
        vote = "stenosis" if frame.vote else "no stenosis"
        columns.append(_caption(column, f"frame {frame.index}  p={frame.probability:.2f}  {vote}"))
        columns.append(np.full((columns[-1].shape[0], 8, 3), 255, np.uint8))
    body = np.concatenate(columns[:-1], axis=1)
    decision = report.decision
    title = (
        f"{report.name}: {'STENOSIS' if decision.stenosis else 'no stenosis'} "
        f"({decision.votes}/{decision.n_votes} key-frame votes, mean p={decision.probability:.2f}) "
        "- research use only"
    )
    return _caption(body, title, height=28)


def _timeline(width: int, index: int, n_frames: int, key_frames: list[int]) -> np.ndarray:
    """A progress bar under each video frame, key frames ticked (it also keeps GIF frames distinct)."""
    bar = np.full((TIMELINE_PX, width, 3), 40, np.uint8)
    done = round(width * (index + 1) / n_frames)
    bar[:, :done] = (0, 170, 255)
    for key in key_frames:
        column = min(width - 1, round(width * (key + 0.5) / n_frames))
        bar[: TIMELINE_PX // 2, max(0, column - 1) : column + 1] = (255, 255, 255)
    return bar


def clip_panels(report: Report, long_side: int, even: bool) -> np.ndarray:
    """Every frame as original | overlay (plus a timeline), ``(T, H, W, 3)`` uint8, panel long side capped."""
    if report.clip_heatmaps is None:
        raise ValueError("this report was made without whole-clip heat maps (clip_heatmaps=False)")
    clip = report.clip
    size = render.fit_size(clip.height, clip.width, long_side, even=even)
    panels = []
    for index in range(clip.n_frames):  # frame by frame: a long 16-bit run never becomes one float array
        grey = np.asarray(
            Image.fromarray(_uint8_frame(report, index)).resize(size, Image.Resampling.BILINEAR)
        )
        heat = np.asarray(
            Image.fromarray(report.clip_heatmaps[index]).resize(size, Image.Resampling.BILINEAR)
        )
        pair = render.side_by_side(
            render.grey_to_rgb(grey), render.overlay(grey, _display(report, heat / 255.0))
        )
        timeline = _timeline(pair.shape[1], index, clip.n_frames, report.key_frames)
        panels.append(np.concatenate([pair, timeline], axis=0))
    return np.stack(panels)


def _frame_ms(report: Report) -> float:
    ms = report.frame_time_ms
    return ms if ms and ms > 0 else 1000.0 / DEFAULT_FPS


def gif_bytes(panels: np.ndarray, frame_ms: float) -> bytes:
    """An endlessly looping GIF with one GIF frame per clip frame."""
    images = [
        Image.fromarray(panel).quantize(
            colors=255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        for panel in panels
    ]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(frame_ms)),
        loop=0,
        optimize=False,
    )
    return buffer.getvalue()


def write_mp4(panels: np.ndarray, frame_ms: float, path: Path) -> None:
    """H.264 (yuv420p, plays in browsers) at the clip's frame rate; panel sizes are even by construction."""
    import av

    rate = Fraction(1000.0 / frame_ms).limit_denominator(1001)
    height, width = panels.shape[1:3]
    pad_h, pad_w = height % 2, width % 2
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width + pad_w, height + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "superfast"}  # 2x faster than veryfast, ~20 % larger
        for panel in panels:
            if pad_h or pad_w:
                panel = np.pad(panel, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(panel), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_report(report: Report, directory: Path, videos: bool = True) -> Path:
    """Write the whole report folder atomically; writer timings are added to ``report.timings``."""
    from stenoscope.report.html import render_html

    with atomic_dir(directory) as tmp:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a report folder is an ordinary folder
        start = time.perf_counter()
        embedded = {}  # report.html gets copies at most HTML_LONG_SIDE per panel, to stay a few MB
        html_size = render.fit_size(report.clip.height, report.clip.width, HTML_LONG_SIDE)
        for frame in report.frames:
            image = keyframe_image(report, frame)
            full = png_bytes(image)
            (tmp / f"keyframe_{frame.index}.png").write_bytes(full)
            if html_size[0] == report.clip.width:
                embedded[frame.index] = full
            else:
                small = (2 * html_size[0] + render.PANEL_GAP_PX, html_size[1])
                embedded[frame.index] = png_bytes(render.resize_rgb(image, small))
        sheet_png = png_bytes(contact_sheet(report))
        (tmp / "contact_sheet.png").write_bytes(sheet_png)
        report.timings["write_png"] = time.perf_counter() - start

        gif = None
        if videos and report.clip_heatmaps is not None:
            start = time.perf_counter()
            panels = clip_panels(report, VIDEO_LONG_SIDE, even=True)
            write_mp4(panels, _frame_ms(report), tmp / "clip.mp4")
            report.timings["write_mp4"] = time.perf_counter() - start
            start = time.perf_counter()
            small = clip_panels(report, GIF_LONG_SIDE, even=False)
            gif = gif_bytes(small, _frame_ms(report))
            (tmp / "clip.gif").write_bytes(gif)
            report.timings["write_gif"] = time.perf_counter() - start

        start = time.perf_counter()
        html = render_html(report, keyframe_pngs=embedded, gif=gif)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        report.timings["write_html"] = time.perf_counter() - start
        (tmp / "report.json").write_text(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    return directory
