"""HTML of the plugin's tab and page: escaped server-side, inline CSS and SVG, no script from elsewhere."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import quote

from airflow_provider_kling.utils.units import units

STYLE = """<style>
body{font:14px system-ui,sans-serif;margin:12px;color:#1f2933}h1{font-size:18px}
h2{font-size:15px;margin-top:18px}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
.media{display:flex;flex-wrap:wrap;gap:12px}.media figure{margin:0}
.media video,.media img{max-width:420px;max-height:260px}
.muted{color:#667}.card{border:1px solid #ddd;border-radius:6px;padding:8px;max-width:300px}
.card video,.card img{max-width:280px;max-height:170px}.warn{color:#a15c00}
</style>"""


# Kling's file URLs are hotlink-protected (docs/kling-api.md §3, billing): the players send no Referer.
NO_REFERRER = 'referrerpolicy="no-referrer"'


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>{STYLE}</head>'
        f"<body>{body}</body></html>"
    )


def web_url(url: Any) -> str:
    """Only http(s) URLs (and our own routes) ever reach a src/href attribute."""
    return url if isinstance(url, str) and url.lower().startswith(("https://", "http://")) else ""


def when(value: Any) -> str:
    """A time for humans (UTC) from a datetime, epoch seconds, or Kling's epoch milliseconds."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        value = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return escape(str(value))


def epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return value / 1000 if value > 1e11 else float(value)
    return None


def media_url(prefix: str, dag_id: str, run_id: str, task_id: str, map_index: int, index: int) -> str:
    parts = "/".join(quote(p, safe="") for p in (dag_id, run_id, task_id))
    return f"{prefix}/media/{parts}/{index}?map_index={map_index}"


def players(result: dict[str, Any], copy_of: Any) -> str:
    """<video>/<audio>/<img> for a result; ``copy_of(kling_id)`` gives a published copy's URL or ""."""
    items = []
    for video in result.get("videos") or []:
        src = copy_of(video.get("id")) or web_url(video.get("url"))
        if src:
            label = "published copy" if src != video.get("url") else "Kling URL (valid 30 days)"
            items.append(
                f'<figure><video class="kling-video" src="{escape(src)}" {NO_REFERRER} controls muted '
                'preload="auto"></video>'
                f"<figcaption>video {escape(str(video.get('id')))}, {escape(str(video.get('duration')))} s"
                f" · {label}</figcaption></figure>"
            )
    for audio in result.get("audios") or []:
        kling = web_url(audio.get("url")) or web_url(audio.get("url_mp3")) or web_url(audio.get("url_wav"))
        src = copy_of(audio.get("id")) or kling
        if src:
            items.append(
                f'<figure><audio class="kling-audio" src="{escape(src)}" {NO_REFERRER} controls '
                'preload="auto"></audio>'
                f"<figcaption>audio {escape(str(audio.get('id')))}</figcaption></figure>"
            )
    for image in result.get("images") or []:
        if src := web_url(image.get("url")):
            items.append(
                f'<figure><img class="kling-image" src="{escape(src)}" {NO_REFERRER} '
                f'alt="image {escape(str(image.get("index")))}"></figure>'
            )
    return (
        '<div class="media">' + "".join(items) + "</div>" if items else '<p class="muted">No media yet.</p>'
    )


def table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows if v not in (None, "")
    )
    return f"<table>{cells}</table>"


def cost(result: dict[str, Any]) -> str:
    credits = result.get("credits")
    text = "not reported by Kling" if credits is None else units(credits)
    deduction = result.get("balance_deduction")
    if isinstance(deduction, dict) and deduction:
        text += " (balance: " + ", ".join(f"{k} {v}" for k, v in deduction.items()) + ")"
    return text


def bar_chart(values: dict[str, float], *, title: str) -> str:
    """An inline SVG bar chart (no library): one bar per key."""
    if not values:
        return f'<p class="muted">{escape(title)}: nothing spent yet.</p>'
    width, height, bar = 40 + 48 * len(values), 180, 32
    top = max(values.values()) or 1.0
    bars = []
    for i, (key, value) in enumerate(values.items()):
        h = 120 * value / top
        x, y = 30 + 48 * i, 140 - h
        bars.append(
            f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="#4a6cf7"><title>{escape(key)}: '
            f'{units(value)}</title></rect><text x="{x + bar / 2}" y="{y - 4:.1f}" font-size="10" '
            f'text-anchor="middle">{value:g}</text><text x="{x + bar / 2}" y="156" font-size="9" '
            f'text-anchor="middle">{escape(key[-5:])}</text>'
        )
    return (
        f'<svg class="kling-chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}">'
        f'<line x1="25" y1="140" x2="{width}" y2="140" stroke="#999"/>{"".join(bars)}</svg>'
    )
