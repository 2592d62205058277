"""The extra links: which URL of a Kling result (or publish result) becomes the button, and only http(s)."""

from __future__ import annotations

from airflow_provider_kling.links.kling import KlingPublishedLink, KlingResultLink, published_url, result_url
from airflow_provider_kling.operators.publish import KlingPublishOperator
from airflow_provider_kling.operators.speech import AvatarOperator, LipSyncOperator, TextToSpeechOperator
from airflow_provider_kling.operators.text_to_audio import TextToAudioOperator
from airflow_provider_kling.operators.video import ImageToVideoOperator, TextToVideoOperator
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

VIDEO = {"id": "v1", "url": "https://cdn.example/v1.mp4", "duration": "5"}
AUDIO = {"id": "a1", "url": "", "url_mp3": "https://cdn.example/a1.mp3", "url_wav": None, "duration": None}
IMAGE = {"index": 0, "url": "https://cdn.example/i0.png", "watermark_url": None, "group_id": None}


def result(**outputs: object) -> dict[str, object]:
    return {
        "kling_task_id": "k1",
        "api_design": "legacy",
        "videos": [],
        "audios": [],
        "images": [],
        **outputs,
    }


def test_the_result_link_is_the_first_video_else_audio_else_image() -> None:
    assert result_url(result(videos=[VIDEO], audios=[AUDIO], images=[IMAGE])) == VIDEO["url"]
    assert result_url(result(audios=[AUDIO], images=[IMAGE])) == AUDIO["url_mp3"]  # url empty: mp3
    assert result_url(result(images=[IMAGE])) == IMAGE["url"]
    assert result_url(result()) == ""  # still waiting, or nothing generated: no button


def test_only_http_urls_become_links() -> None:
    assert result_url(result(videos=[{**VIDEO, "url": "javascript:alert(1)"}])) == ""
    assert result_url(result(videos=[{**VIDEO, "url": "file:///etc/passwd"}], images=[IMAGE])) == IMAGE["url"]
    assert result_url(None) == "" and result_url("https://x") == ""


def test_the_published_link_is_a_file_a_browser_can_open() -> None:
    local = {"kind": "video", "kling_id": "v1", "path": "file:///data/v1.mp4"}
    s3 = {"kind": "video", "kling_id": "v1", "path": "s3://bucket/v1.mp4"}
    web = {"kind": "audio", "kling_id": "a1", "path": "https://bucket.example/a1.mp3"}
    assert published_url({"destination": "x", "files": [local, s3]}) == ""
    assert published_url({"destination": "x", "files": [local, web]}) == web["path"]
    assert published_url(None) == ""


def test_every_kling_operator_has_its_link() -> None:
    for operator in (
        TextToVideoOperator,
        ImageToVideoOperator,
        VideoToAudioOperator,
        TextToAudioOperator,
        TextToSpeechOperator,
        LipSyncOperator,
        AvatarOperator,
    ):
        assert [type(link) for link in operator.operator_extra_links] == [KlingResultLink], operator
    assert [type(link) for link in KlingPublishOperator.operator_extra_links] == [KlingPublishedLink]
    assert {KlingResultLink.name, KlingPublishedLink.name} == {"Kling result", "Published copy"}
