"""Small inline-SVG charts for the HTML report: no JavaScript, no network, same bytes for the
same data (so reports of equal runs compare equal)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 560, 300
MARGIN = {"left": 56, "right": 16, "top": 34, "bottom": 56}
PALETTE = ("#3366cc", "#dc3912", "#109618", "#ff9900", "#990099")
MIN_LABEL_GAP = 30  # px between x-axis labels


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _frame(title: str, body: list[str], legend: Sequence[tuple[str, str]] = ()) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
        *body,
    ]
    x = MARGIN["left"]
    for label, colour in legend:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="11">{escape(label)}</text>')
        x += 24 + 7 * len(label)
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(y_max: float, y_label: str, ticks: int = 5) -> list[str]:
    left, top = MARGIN["left"], MARGIN["top"]
    bottom = HEIGHT - MARGIN["bottom"]
    right = WIDTH - MARGIN["right"]
    out = [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/>']
    for i in range(ticks + 1):
        value = y_max * i / ticks
        y = bottom - (bottom - top) * i / ticks
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_fmt(value)}</text>')
    out.append(
        f'<text x="14" y="{(top + bottom) / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + bottom) / 2})">{escape(y_label)}</text>'
    )
    return out


def empty_chart(title: str, message: str) -> str:
    return _frame(title, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="12" fill="#666">'
                          f"{escape(message)}</text>"])


def bar_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
              y_max: float = 100.0, y_label: str = "%", notes: Sequence[str] | None = None) -> str:
    """Grouped bars: one group per label, one bar per series. ``notes`` go under the labels."""
    if not labels:
        return empty_chart(title, "no data")
    left, top = MARGIN["left"], MARGIN["top"]
    bottom = HEIGHT - MARGIN["bottom"]
    plot_w = WIDTH - MARGIN["right"] - left
    group_w = plot_w / len(labels)
    bar_w = group_w * 0.7 / max(1, len(series))
    body = _axes(y_max, y_label)
    for gi, label in enumerate(labels):
        gx = left + gi * group_w + group_w * 0.15
        for si, (_, values) in enumerate(series):
            v = max(0.0, min(float(values[gi]), y_max))
            h = (bottom - top) * v / y_max if y_max else 0
            x = gx + si * bar_w
            body.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(label)}: {_fmt(v)}</title></rect>')
            body.append(f'<text x="{x + bar_w / 2:.1f}" y="{bottom - h - 3:.1f}" text-anchor="middle" font-size="9">'
                        f"{_fmt(v)}</text>")
        cx = left + gi * group_w + group_w / 2
        body.append(f'<text x="{cx:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="11">{escape(label)}</text>')
        if notes:
            body.append(f'<text x="{cx:.1f}" y="{bottom + 27}" text-anchor="middle" font-size="9" fill="#666">'
                        f"{escape(notes[gi])}</text>")
    legend = [(name, PALETTE[i % len(PALETTE)]) for i, (name, _) in enumerate(series)] if len(series) > 1 else []
    return _frame(title, body, legend)


def line_chart(title: str, xs: Sequence[float], series: Sequence[tuple[str, Sequence[float]]], *,
               x_label: str, y_max: float = 100.0, y_label: str = "%", marker_x: float | None = None) -> str:
    if not xs:
        return empty_chart(title, "no data")
    left, top = MARGIN["left"], MARGIN["top"]
    bottom = HEIGHT - MARGIN["bottom"]
    right = WIDTH - MARGIN["right"]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1.0

    def px(x: float) -> float:
        return left + (right - left) * ((x - lo) / span if hi > lo else 0.5)

    def py(y: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(y, y_max)) / y_max

    body = _axes(y_max, y_label)
    last = -1e9
    for x in sorted(xs):
        if px(x) - last >= MIN_LABEL_GAP:  # dense sweeps: label what fits
            body.append(f'<text x="{px(x):.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10">{x:g}</text>')
            last = px(x)
    body.append(f'<text x="{(left + right) / 2}" y="{bottom + 30}" text-anchor="middle" font-size="11">'
                f"{escape(x_label)}</text>")
    if marker_x is not None and lo <= marker_x <= hi:
        body.append(f'<line x1="{px(marker_x):.1f}" y1="{top}" x2="{px(marker_x):.1f}" y2="{bottom}" '
                    f'stroke="#999" stroke-dasharray="4 3"/>')
    for si, (name, ys) in enumerate(series):
        colour = PALETTE[si % len(PALETTE)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in zip(xs, ys):
            body.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}">'
                        f"<title>{escape(name)} at {x:g}: {_fmt(y)}</title></circle>")
    return _frame(title, body, [(name, PALETTE[i % len(PALETTE)]) for i, (name, _) in enumerate(series)])


def histogram(title: str, series: Sequence[tuple[str, Sequence[float]]], *, lo: float = 0.0, hi: float = 1.0,
              bins: int = 20, x_label: str = "score", marker_x: float | None = None) -> str:
    """Overlaid histograms (share of each series per bin, so sizes compare)."""
    if not any(len(v) for _, v in series):
        return empty_chart(title, "no scores")
    width = (hi - lo) / bins
    shares: list[list[float]] = []
    for _, values in series:
        counts = [0] * bins
        for v in values:
            i = min(bins - 1, max(0, int((v - lo) / width)))
            counts[i] += 1
        total = len(values) or 1
        shares.append([100.0 * c / total for c in counts])
    y_max = max(10.0, float(int(max(max(s) for s in shares) / 10 + 1) * 10))
    left, top = MARGIN["left"], MARGIN["top"]
    bottom = HEIGHT - MARGIN["bottom"]
    right = WIDTH - MARGIN["right"]
    bin_w = (right - left) / bins
    body = _axes(y_max, "% of scores")
    for si, share in enumerate(shares):
        colour = PALETTE[si % len(PALETTE)]
        for i, s in enumerate(share):
            if s <= 0:
                continue
            h = (bottom - top) * s / y_max
            body.append(f'<rect x="{left + i * bin_w:.1f}" y="{bottom - h:.1f}" width="{bin_w - 1:.1f}" '
                        f'height="{h:.1f}" fill="{colour}" fill-opacity="0.55"/>')
    for k in range(0, bins + 1, max(1, bins // 5)):
        x = left + k * bin_w
        body.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10">{lo + k * width:g}</text>')
    body.append(f'<text x="{(left + right) / 2}" y="{bottom + 30}" text-anchor="middle" font-size="11">'
                f"{escape(x_label)}</text>")
    if marker_x is not None and lo <= marker_x <= hi:
        x = left + (marker_x - lo) / (hi - lo) * (right - left)
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#333" stroke-dasharray="4 3"/>')
    legend = [(f"{name} (n={len(v)})", PALETTE[i % len(PALETTE)]) for i, (name, v) in enumerate(series)]
    return _frame(title, body, legend)
