"""Video clips in and out through PyAV (FFmpeg as a library), and GIF through Pillow.

Reading decodes every frame straight to FFmpeg's ``gray`` pixel format, i.e. the luma plane: cath-lab
video exports are grey stored in colour video, where luma is the picture; true colour overlays are flattened
the same way. The frame time comes from the container's average frame rate. Writing pads odd sizes by
repeating the last row/column (H.264 yuv420p needs even sizes), so a read-back clip may be one pixel larger.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from stenoscope._fs import atomic_path
from stenoscope.clip import Clip
from stenoscope.errors import InputError
from stenoscope.io._util import first_line

DEFAULT_FPS = 15.0  # used when writing a clip whose frame time is unknown
_ENCODERS = {
    "mp4": ("libx264", "yuv420p", {"crf": "12", "preset": "medium"}),
    "avi": ("mjpeg", "yuvj420p", {"qmin": "1", "qmax": "2"}),  # near-best JPEG quality
}


def read_video(path: Path) -> Clip:
    """All frames of the first video stream as grey ``uint8`` and the frame time from the container."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(path, "file has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            frames = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
    except av.FFmpegError as error:
        raise InputError(path, f"not a readable video ({first_line(error)})") from error
    if not frames:
        raise InputError(path, "video has zero frames")
    if len({frame.shape for frame in frames}) > 1:
        raise InputError(path, "video frames change size mid-stream")
    frame_time = 1000.0 / float(rate) if rate and float(rate) > 0 else None
    return Clip(
        frames=np.stack(frames),
        bits_stored=8,
        frame_time_ms=frame_time,
        source=str(path),
        format="video",
        extra={"codec": stream.codec_context.name},
    )


def write_video(clip: Clip, path: Path, kind: str) -> Path:
    """``mp4``: H.264 yuv420p (plays everywhere); ``avi``: Motion JPEG. Both 8-bit."""
    import av

    codec, pixel_format, options = _ENCODERS[kind]
    frames = _even(clip.as_uint8())
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=_rate(clip))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pixel_format
        stream.options = options
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(stream.encode(None))
    return Path(path)


def read_gif(path: Path) -> Clip:
    """An animated GIF as grey frames; its per-frame delays give the frame time (mean delay)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    from stenoscope.io._grey import luma

    frames, delays, colour = [], [], False
    try:
        with Image.open(path) as image:
            for page in ImageSequence.Iterator(image):
                rgb = np.asarray(page.convert("RGB"))
                colour = colour or not (
                    np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
                )
                frames.append(luma(rgb))
                if page.info.get("duration"):
                    delays.append(float(page.info["duration"]))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise InputError(path, f"unreadable or truncated GIF ({first_line(error)})") from error
    if not frames:
        raise InputError(path, "GIF has zero frames")
    extra = {"converted_from": "colour (BT.601 luma)"} if colour else {}
    return Clip(
        frames=np.stack(frames),
        bits_stored=8,
        frame_time_ms=float(np.mean(delays)) if delays else None,
        source=str(path),
        format="video",
        extra=extra,
    )


def write_gif(clip: Clip, path: Path) -> Path:
    """An endlessly looping grey GIF; GIF stores delays in 1/100 s, so 66.7 ms becomes 70 ms."""
    from PIL import Image

    frame_time = clip.frame_time_ms if clip.frame_time_ms else 1000.0 / DEFAULT_FPS
    images = [Image.fromarray(frame) for frame in clip.as_uint8()]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            loop=0,
            duration=10 * round(frame_time / 10),
            optimize=False,
        )
    return Path(path)


def _rate(clip: Clip) -> Fraction:
    fps = 1000.0 / clip.frame_time_ms if clip.frame_time_ms else DEFAULT_FPS
    return Fraction(fps).limit_denominator(1001)


def _even(frames: np.ndarray) -> np.ndarray:
    pad_rows, pad_columns = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_rows or pad_columns):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_rows), (0, pad_columns)), mode="edge")
