"""The plugin's HTML: what a prompt or a result holds is text, never markup; only http(s) media sources."""

from __future__ import annotations

from airflow_provider_kling.plugins import render


def test_a_prompt_with_markup_is_shown_as_text() -> None:
    html = render.table([("prompt", '<script>alert("x")</script>')])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_only_http_urls_become_media_sources() -> None:
    result = {
        "videos": [{"id": "v", "url": "javascript:alert(1)", "duration": "5"}],
        "audios": [{"id": 'a"><script>', "url": "https://cdn.example/a.mp3"}],
        "images": [{"index": 0, "url": "data:image/png;base64,AAAA"}],
    }
    html = render.players(result, lambda _id: "")
    assert "javascript:" not in html and "data:image" not in html and "<video" not in html
    assert 'src="https://cdn.example/a.mp3"' in html and "<script>" not in html


def test_the_chart_has_one_bar_per_day() -> None:
    svg = render.bar_chart({"2026-12-06": 2.0, "2026-12-07": 0.5}, title="per day")
    assert svg.count("<rect") == 2 and "2026-12-07: 0.5 units" in svg
    assert "nothing spent yet" in render.bar_chart({}, title="per day")


def test_one_unit_reads_singular_in_the_cost_line() -> None:
    assert render.cost({"credits": 1}) == "1 unit"
    assert render.cost({"credits": 2.5}).startswith("2.5 units")
    assert render.cost({}) == "not reported by Kling"
