"""A contact sheet: evenly spaced frames of a clip in one PNG grid, to see a whole run at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stenoscope._fs import atomic_path
from stenoscope.clip import Clip
from stenoscope.errors import StenoscopeError


def contact_sheet(
    clip: Clip,
    path: str | Path,
    n: int = 12,
    columns: int = 4,
    tile: int = 256,
    boxes: list[list[list[int]]] | None = None,
) -> Path:
    """Write ``n`` evenly spaced frames as a grid PNG, each labelled with its frame number.

    Args:
        clip: the clip to show.
        path: the PNG to write (atomically).
        n: frames to show (fewer if the clip is shorter).
        columns: tiles per row.
        tile: tile width and height in pixels.
        boxes: optional per-lesion lists of ``[x, y, w, h]`` per frame (a synthetic truth's ``boxes``),
            outlined on every tile.
    """
    from PIL import Image, ImageDraw

    if n < 1 or columns < 1 or tile < 16:
        raise StenoscopeError(
            f"contact sheet needs n >= 1, columns >= 1 and tile >= 16 (got {n}, {columns}, {tile})"
        )
    indices = np.unique(np.linspace(0, clip.n_frames - 1, min(n, clip.n_frames)).round().astype(int))
    rows = -(-len(indices) // columns)
    gap = 4
    sheet = Image.new("L", (columns * (tile + gap) + gap, rows * (tile + gap) + gap), 24)
    frames = clip.as_uint8()
    for position, index in enumerate(indices):
        image = Image.fromarray(frames[index]).resize((tile, tile), Image.Resampling.LANCZOS)
        draw = ImageDraw.Draw(image)
        sx, sy = tile / clip.width, tile / clip.height
        for lesion in boxes or []:
            x, y, w, h = lesion[index]
            draw.rectangle([x * sx, y * sy, (x + w) * sx, (y + h) * sy], outline=255)
        draw.rectangle([0, 0, 34, 13], fill=0)
        draw.text((3, 1), f"{index:3d}", fill=255)
        row, column = divmod(position, columns)
        sheet.paste(image, (gap + column * (tile + gap), gap + row * (tile + gap)))
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG", optimize=True)
    return path
