"""report.html: one self-contained page (images embedded as data URIs, no script, no network) that a person
opens in a browser: the decision, the key-frame score curve, the key frames with overlays, the animated clip,
the model card summary and the research-use disclaimer.
"""

from __future__ import annotations

import base64
from html import escape

from stenoscope.report.results import Report

DISCLAIMER = (
    "Research use only. stenoscope is not a medical device and must not be used for diagnosis or "
    "treatment decisions. Probabilities and heat maps show what a model trained on public data responds "
    "to; they are not a measurement of stenosis degree."
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#1d1d1f;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.disclaimer{background:#fff4e5;border:1px solid #f0a040;padding:8px 12px;border-radius:6px}
.warning{background:#fffbe6;border:1px solid #e6c200;padding:6px 12px;border-radius:6px;margin:4px 0}
.decision{display:inline-block;font-size:1.3em;font-weight:600;padding:6px 14px;border-radius:6px}
.positive{background:#fde2e1;color:#8b0000}.negative{background:#e3f4e6;color:#0b5d1e}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top;font-size:.92em}th{background:#f5f5f7}
figure{margin:12px 0}figcaption{font-size:.9em;color:#444}img{max-width:100%;height:auto}
code{font-size:.9em}.muted{color:#666;font-size:.85em}
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def score_curve_svg(report: Report, width: int = 900, height: int = 220) -> str:
    """The key-frame score of every frame, the key frames marked and coloured by their vote."""
    scores = report.keyframe_scores
    n = len(scores)
    if n < 2:
        return '<p class="muted">A single image: it is its own key frame.</p>'
    left, right, top, bottom = 50, 10, 10, 30
    low, high = min(scores), max(scores)
    span = (high - low) or 1.0

    def x_of(index: int) -> float:
        return left + (width - left - right) * index / (n - 1)

    def y_of(score: float) -> float:
        return top + (height - top - bottom) * (1.0 - (score - low) / span)

    points = " ".join(f"{x_of(i):.1f},{y_of(s):.1f}" for i, s in enumerate(scores))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="key-frame score per frame">',
        f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
        'fill="#fafafa" stroke="#ccc"/>',
        f'<line x1="{x_of(report.key_frame):.1f}" x2="{x_of(report.key_frame):.1f}" y1="{top}" '
        f'y2="{height - bottom}" stroke="#888" stroke-dasharray="4 3"/>',
        f'<polyline points="{points}" fill="none" stroke="#2060c0" stroke-width="2"/>',
    ]
    for frame in report.frames:
        colour = "#c0392b" if frame.vote else "#27ae60"
        cx, cy = x_of(frame.index), y_of(scores[frame.index])
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{colour}"><title>frame {frame.index}: '
            f"p={frame.probability:.2f}</title></circle>"
        )
    for index in sorted({0, report.key_frame, n - 1}):
        parts.append(
            f'<text x="{x_of(index):.1f}" y="{height - 10}" font-size="12" text-anchor="middle">'
            f"{index}</text>"
        )
    parts.append(
        f'<text x="12" y="{(height - bottom) / 2 + top:.0f}" font-size="12" '
        f'transform="rotate(-90 12 {(height - bottom) / 2 + top:.0f})" text-anchor="middle">score</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _row(label: str, value: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{value}</td></tr>"


def _peak_rule(heatmaps: dict) -> str:
    """What a peak's score is and from which score peaks are marked (report.json's ``heatmaps``)."""
    rule = heatmaps.get("peak_score") or "map value"
    return f"{rule}; peaks marked from {heatmaps.get('peak_threshold', 0):g}"


def _peaks_text(frame_peaks: list) -> str:
    if not frame_peaks:
        return "none above threshold"
    return "; ".join(f"#{i} ({p.x:.0f}, {p.y:.0f}) {p.score:.2f}" for i, p in enumerate(frame_peaks, start=1))


def render_html(report: Report, keyframe_pngs: dict[int, bytes], gif: bytes | None) -> str:
    """The whole page as one string."""
    decision = report.decision
    verdict = "Stenosis" if decision.stenosis else "No stenosis"
    css_class = "positive" if decision.stenosis else "negative"
    clip = report.clip
    frame_time = "unknown" if report.frame_time_ms is None else f"{report.frame_time_ms:.1f} ms"
    model = report.model
    sha = escape(model.sha256[:16] + "...") if model.sha256 else "not recorded"
    summary = "".join(
        [
            _row("input", f"<code>{escape(report.input)}</code>"),
            _row("frames", f"{report.n_frames} ({clip.width} x {clip.height} px, {clip.bits_stored} bit)"),
            _row("frame time", escape(frame_time)),
            _row("key frame", f"{report.key_frame} (method: {escape(report.keyframe_method)})"),
            _row("key frames", escape(", ".join(str(i) for i in report.key_frames))),
            _row("votes", f"{decision.votes} of {decision.n_votes} key frames"),
            _row("mean probability", f"{decision.probability:.3f}"),
            _row("rule", escape(decision.rule)),
            _row("heat maps", escape(f"{report.heatmaps['source']}; whole clip: {report.heatmaps['clip']}")),
            _row("peak score", escape(_peak_rule(report.heatmaps))),
            _row("model", f"{escape(model.name)} {escape(model.version or '')} (sha256 {sha})"),
        ]
    )
    warnings = "".join(f'<div class="warning">{escape(w)}</div>' for w in report.warnings)
    frame_rows = "".join(
        f"<tr><td>{f.index}</td><td>{f.probability:.3f}</td>"
        f"<td>{'stenosis' if f.vote else 'no stenosis'}</td>"
        f"<td>{escape(_peaks_text(f.peaks))}</td><td>{len(f.boxes)}</td></tr>"
        for f in report.frames
    )
    figures = "".join(
        f'<figure><img alt="key frame {f.index}: original and heat-map overlay" '
        f'src="{_data_uri(keyframe_pngs[f.index], "image/png")}">'
        f"<figcaption>Frame {f.index}: probability {f.probability:.3f} "
        f"({'votes stenosis' if f.vote else 'votes no stenosis'}). Left: original; right: "
        f"{escape(report.heatmaps['source'])} overlay (colours saturate at {report.display_max:.2f}), "
        "boxes in green, peaks numbered in cyan.</figcaption>"
        "</figure>"
        for f in report.frames
        if f.index in keyframe_pngs
    )
    if gif is not None:
        animation = (
            '<figure><img alt="the whole clip: original and heat-map overlay" '
            f'src="{_data_uri(gif, "image/gif")}"><figcaption>The whole run, original left and heat-map '
            "overlay right; the bar below marks time and the key frames. Heat maps for every frame come "
            "from running the model on that frame (not "
            'propagated from the key frames). Full resolution: <a href="clip.mp4">clip.mp4</a>.</figcaption>'
            "</figure>"
        )
    else:
        animation = '<p class="muted">Whole-clip heat maps were not computed for this report.</p>'
    card = (
        escape(model.card_summary)
        if model.card_summary
        else "No model card summary is stored with this model."
    )
    timings = ", ".join(f"{escape(stage)} {seconds:.2f} s" for stage, seconds in report.timings.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stenoscope report: {escape(report.name)}</title>
<style>{_CSS}</style>
</head>
<body>
<p class="disclaimer"><strong>{escape(DISCLAIMER)}</strong></p>
<h1>stenoscope report: {escape(report.name)}</h1>
<p><span class="decision {css_class}" id="decision">{verdict}</span>
&nbsp;mean probability {decision.probability:.2f}, {decision.votes}/{decision.n_votes} key-frame votes</p>
{warnings}
<h2>Clip summary</h2>
<table id="summary">{summary}</table>
<h2>Key-frame score curve</h2>
<p class="muted">Key-frame score of every frame (higher = more contrast filling); dashed line: the key frame;
dots: the frames that vote (red = stenosis, green = no stenosis).</p>
{score_curve_svg(report)}
<h2>Key frames</h2>
<table id="frames"><tr><th>frame</th><th>probability</th><th>vote</th><th>peaks (x, y) score</th>
<th>boxes</th></tr>{frame_rows}</table>
{figures}
<h2>Animated clip</h2>
{animation}
<h2>Model card summary</h2>
<p id="model-card">{card}</p>
<h2>About this report</h2>
<p>{escape(DISCLAIMER)}</p>
<p class="muted">Coordinates are in the input's pixels (x = column, y = row). Timings: {timings}.
The same numbers are in <code>report.json</code> (schema <code>stenoscope.report/1</code>).</p>
</body>
</html>
"""
