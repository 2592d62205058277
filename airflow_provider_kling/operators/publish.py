"""KlingPublishOperator: copy Kling's generated files to storage you own before Kling deletes them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator, ObjectStoragePath

from airflow_provider_kling.links.kling import KlingPublishedLink
from airflow_provider_kling.publishing.download import (
    Downloader,
    DownloadLimits,
    PublishedFile,
    PublishError,
    copy_file,
    file_size,
    is_local,
    local_file,
    safe_name,
)
from airflow_provider_kling.publishing.inputs import (
    AUDIO_FORMATS,
    as_uri,
    check_music_bed_options,
    check_voice_over_levels,
    default_destination,
    image_entry,
    music_bed_entry,
    parse_formats,
    parse_results,
    source_result,
    source_video_entry,
    total_credits,
    voice_over_entry,
)
from airflow_provider_kling.publishing.media import mux, mux_music_bed, mux_voice_over
from airflow_provider_kling.publishing.net import connection_net_settings
from airflow_provider_kling.publishing.overlay import lay_track
from airflow_provider_kling.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

# Outlet used when the destination is only known at run time (templated): one name to schedule on.
DEFAULT_ASSET_NAME = "kling_published"


class KlingPublishOperator(BaseOperator):
    """
    Copy the videos, audio and images of Kling results to any ``ObjectStoragePath`` destination.

    Kling deletes generated files after 30 days. This operator streams them (never a whole
    file in memory) to ``destination`` — a local ``file://`` folder by default, or ``s3://``,
    ``gs://``, … through the Airflow object storage backends you have installed — writing to a
    hidden temporary name and renaming it when complete. File names come from the Kling ids
    (``<video_id>.mp4``, ``<audio_id>.mp3``, ``<audio_id>.wav``, ``<task_id>-<index>.png`` for
    images, ``.jpg`` when Kling serves a JPEG), and a file already there with
    the size the server announces is not downloaded again, so reruns are cheap.

    With ``mux=True`` it also writes ``<video_id>-<audio_id>.mp4``: the source video with the
    generated audio as its sound track (AAC), as long as the video (needs PyAV, extra ``media``).

    Only http(s) URLs are fetched, each within ``max_bytes`` and the timeouts; an error leaves
    no partial file. Unreachable servers, cut downloads and HTTP 5xx, 408 or 429 answers fail the
    task (Airflow retries apply); a file over the limit, a non-http(s) URL (or a redirect to one)
    and other HTTP 4xx answers fail it for good.

    Returns ``{"destination": uri, "files": [{"kind", "kling_id", "format", "path", "size",
    "downloaded"}, ...], "credits": units}``, and records the same in the outlet asset event's
    ``extra``. ``credits`` is the total Kling units of what was published (the results' XCom
    ``credits``, plus ``source_video``'s when it is another task's result and was muxed), None
    when none of them says: a downstream DAG or a dashboard can sum the spend per run.

    :param result: The Kling task result to publish: an upstream Kling operator's XCom
        (``make_audio.output``, or a template such as ``"{{ ti.xcom_pull('make_audio') }}"``),
        or a list of them (templated).
    :param destination: Folder URI or local path (templated). Default: ``$AIRFLOW_HOME/kling_published``.
    :param destination_conn_id: Airflow connection for the storage backend (e.g. ``aws_default``).
        For ``s3://``: an ``aws`` connection (``endpoint_url`` in its extra for MinIO, R2, ...; see the
        publishing page of the docs). The bucket must exist: publishing never creates one.
    :param audio_formats: Which audio files to copy: ``mp3``, ``wav`` or both (templated).
    :param include_videos: Also copy the result's ``videos`` (default True).
    :param include_images: Also copy the result's ``images`` (default True).
    :param mux: Also write the source video with the generated audio as one MP4.
    :param source_video: The video to mux the audio onto: an upstream video operator's result,
        one ``{"id", "url"}`` entry, or an http(s) URL (templated). Default: the result's first video.
    :param music_bed: Audio to lay under the video as a music bed: a ``TextToAudioOperator``
        result (its first audio, WAV preferred), one ``{"id", "url_wav"/"url_mp3"}`` entry, or an
        http(s) URL (templated). Writes ``<video_id>-<mode>-<audio_id>.mp4`` next to the other
        files and publishes the bed's audio file too. The video is ``source_video`` or the
        result's first video.
    :param music_bed_mode: ``mix`` (default): the bed, scaled by ``music_bed_volume``, under the
        video's own sound (a silent video gets the scaled bed alone); ``replace``: the bed at
        full level is the only track (templated).
    :param music_bed_volume: Gain of the bed in ``mix`` mode, 0..2 (default 0.3; templated).
    :param voice_over: Speech to lay over the video: a ``TextToSpeechOperator`` result (its first
        audio), one audio entry (``url_wav``/``url_mp3``/``url``), or an http(s) URL (templated).
        Writes ``<video_id>-voice-<audio_id>.mp4``: the voice at ``voice_volume`` over the video's
        own sound effects and music at ``bed_volume`` (a silent video gets the voice alone), as
        long as the video (a longer voice is cut, with a warning); publishes the voice file too.
        The video is ``source_video`` or the result's first video; with ``music_bed`` too, the
        voice goes over the bedded MP4 (``<video_id>-<mode>-<bed_id>-voice-<audio_id>.mp4``).
    :param voice_volume: Gain of the voice, 0..2 (default 1.0; templated).
    :param bed_volume: Gain of the video's own sound under the voice, 0..2 (default 0.35;
        templated). 0 drops it: the voice alone.
    :param max_bytes: Refuse files larger than this (default 1 GiB).
    :param connect_timeout: Seconds to connect to the file server.
    :param read_timeout: Seconds to wait for the next chunk of a download.
    :param kling_conn_id: The Kling connection whose proxy and TLS settings (extra ``proxies``,
        ``verify``, ``cert``) the downloads use. Default: ``kling_default`` if it exists, else none.
    :param asset: The outlet asset. Default: the destination URI when it is not templated, else
        ``Asset("kling_published")``. Passing ``outlets=`` yourself overrides this.
    """

    template_fields: Sequence[str] = (
        "result",
        "destination",
        "audio_formats",
        "source_video",
        "music_bed",
        "music_bed_mode",
        "music_bed_volume",
        "voice_over",
        "voice_volume",
        "bed_volume",
    )
    ui_color = "#e8fff0"
    operator_extra_links = (KlingPublishedLink(),)

    def __init__(
        self,
        *,
        result: Any,
        destination: str | None = None,
        destination_conn_id: str | None = None,
        audio_formats: str | Sequence[str] = AUDIO_FORMATS,
        include_videos: bool = True,
        mux: bool = False,
        source_video: Any = None,
        music_bed: Any = None,
        music_bed_mode: str = "mix",
        music_bed_volume: float | str = 0.3,
        include_images: bool = True,
        voice_over: Any = None,
        voice_volume: float | str = 1.0,
        bed_volume: float | str = 0.35,
        max_bytes: int = DownloadLimits.max_bytes,
        connect_timeout: float = DownloadLimits.connect_timeout,
        read_timeout: float = DownloadLimits.read_timeout,
        asset: Asset | None = None,
        kling_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            kwargs["outlets"] = [asset or _default_asset(destination)]
        super().__init__(**kwargs)
        self.result = result
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.audio_formats = audio_formats
        self.include_videos = include_videos
        self.mux = mux
        self.source_video = source_video
        self.music_bed = music_bed
        self.music_bed_mode = music_bed_mode
        self.music_bed_volume = music_bed_volume
        self.include_images = include_images
        self.voice_over = voice_over
        self.voice_volume = voice_volume
        self.bed_volume = bed_volume
        self.limits = DownloadLimits(
            max_bytes=max_bytes, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self.kling_conn_id = kling_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        results = parse_results(self.result)
        if self.music_bed not in (None, ""):  # checked before anything is downloaded
            self.music_bed_volume = check_music_bed_options(self.music_bed_mode, self.music_bed_volume)
            music_bed_entry(self.music_bed)
        if self.voice_over not in (None, ""):
            self.voice_volume, self.bed_volume = check_voice_over_levels(self.voice_volume, self.bed_volume)
            voice_over_entry(self.voice_over)
        formats = parse_formats(self.audio_formats)
        root = ObjectStoragePath(
            as_uri(self.destination or default_destination()), conn_id=self.destination_conn_id
        )
        if is_local(root):
            root.mkdir(parents=True, exist_ok=True)
        # Object stores have no folders to make, and fsspec's mkdir there would create a missing bucket.
        files: list[PublishedFile] = []
        try:
            with Downloader(self.limits, connection_net_settings(self.kling_conn_id)) as downloader:
                for result in results:
                    files += self._publish_result(downloader, result, formats, root)
        except PublishError as exc:
            if exc.retryable:
                raise
            raise AirflowFailException(f"Publishing to {root} failed: {exc}") from exc
        except (FileNotFoundError, PermissionError) as exc:  # a missing bucket, refused keys: no retry helps
            raise AirflowFailException(
                f"Publishing to {root} failed: {type(exc).__name__}: {exc} (the bucket must exist and "
                f"destination_conn_id {self.destination_conn_id!r} must be allowed to list, read, write "
                "and delete in it)"
            ) from exc
        overlays = self.mux or self.voice_over not in (None, "") or self.music_bed not in (None, "")
        paid_for = results + (source_result(self.source_video, results) if overlays else [])
        published: dict[str, Any] = {
            "destination": str(root),
            "files": [f.to_dict() for f in files],
            "credits": total_credits(paid_for),
        }
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = published
        fresh = sum(f.downloaded for f in files)
        self.log.info(
            "Published %d files to %s (%d new, %d already there)", len(files), root, fresh, len(files) - fresh
        )
        return published

    # ------------------------------------------------------------------ steps

    def _publish_result(
        self, downloader: Downloader, result: dict[str, Any], formats: list[str], root: ObjectStoragePath
    ) -> list[PublishedFile]:
        status = result.get("status")
        if status not in (None, "succeed"):
            raise AirflowFailException(
                f"Kling task {result.get('task_id')} is {status!r}, not 'succeed': nothing to publish "
                "(was the upstream operator run with wait_for_completion=False?)"
            )
        files: list[PublishedFile] = []
        if self.include_videos:
            for video in result.get("videos") or []:
                files.append(self._copy(downloader, root, "video", video.get("id"), "mp4", video.get("url")))
        for audio in result.get("audios") or []:
            for fmt in formats:
                url = audio.get(f"url_{fmt}")
                if url:
                    files.append(self._copy(downloader, root, "audio", audio.get("id"), fmt, url))
                else:
                    self.log.warning("Kling gave no %s URL for audio %s: skipped", fmt, audio.get("id"))
        if self.include_images:
            for image in result.get("images") or []:
                name, fmt, url = image_entry(result, image)
                files.append(self._copy(downloader, root, "image", name, fmt, url))
        if self.mux:
            files += self._mux(downloader, result, files, root)
        if self.music_bed not in (None, ""):
            files += self._music_bed(downloader, result, files, root)
        if self.voice_over not in (None, ""):
            # With a music bed too, the voice goes over the bedded MP4: voice over music and effects.
            bedded = [f for f in files if f.kind == "music_bed"]
            files += self._voice_over(downloader, result, files, root, bedded[-1] if bedded else None)
        return files

    def _copy(
        self,
        downloader: Downloader,
        root: ObjectStoragePath,
        kind: str,
        kling_id: Any,
        fmt: str,
        url: Any,
    ) -> PublishedFile:
        target = root / safe_name(str(kling_id or ""), fmt)
        size, downloaded = downloader.copy(str(url or ""), target)
        if downloaded:
            self.log.info("Published %s %s to %s (%d bytes)", kind, kling_id, target, size)
        else:
            self.log.info(
                "%s already holds %s %s (%d bytes): not downloaded again", target, kind, kling_id, size
            )
        return PublishedFile(kind, str(kling_id), fmt, str(target), size, downloaded)

    def _mux(
        self,
        downloader: Downloader,
        result: dict[str, Any],
        published: list[PublishedFile],
        root: ObjectStoragePath,
    ) -> list[PublishedFile]:
        first_audio = str(((result.get("audios") or [{}])[0]).get("id"))
        audio_files = [f for f in published if f.kind == "audio" and f.kling_id == first_audio]
        if not audio_files:
            raise PublishError(
                "mux=True needs an audio file in the result and in audio_formats", retryable=False
            )
        audio = min(audio_files, key=lambda f: f.format != "wav")  # lossless source when there is one
        video_id, video_url = source_video_entry(self.source_video, result)
        extra: list[PublishedFile] = []
        video = next((f for f in published if f.kind == "video" and f.kling_id == video_id), None)
        if video is None:  # the source video is worth keeping too: Kling deletes it as well
            video = self._copy(downloader, root, "video", video_id, "mp4", video_url)
            extra.append(video)
        target = root / safe_name(f"{video_id}-{audio.kling_id}", "mp4")
        existing = file_size(target)
        if existing is not None:  # written atomically, so a file under this name is complete
            self.log.info("%s already exists: not muxed again", target)
            return [*extra, PublishedFile("muxed", audio.kling_id, "mp4", str(target), existing, False)]
        with (
            local_file(ObjectStoragePath(video.path, conn_id=self.destination_conn_id)) as video_path,
            local_file(ObjectStoragePath(audio.path, conn_id=self.destination_conn_id)) as audio_path,
            tempfile.TemporaryDirectory(prefix="kling-mux-") as tmp,
        ):
            out = Path(tmp) / target.name
            seconds = mux(video_path, audio_path, str(out))
            size = copy_file(out, target)
        self.log.info(
            "Muxed %s with audio %s into %s (%.2f s, %d bytes)",
            video_id,
            audio.kling_id,
            target,
            seconds,
            size,
        )
        return [*extra, PublishedFile("muxed", audio.kling_id, "mp4", str(target), size, True)]

    def _music_bed(
        self,
        downloader: Downloader,
        result: dict[str, Any],
        published: list[PublishedFile],
        root: ObjectStoragePath,
    ) -> list[PublishedFile]:
        mode, volume = self.music_bed_mode, float(self.music_bed_volume)

        def lay(video_path: str, bed_path: str, out: str) -> str:
            seconds = mux_music_bed(video_path, bed_path, out, mode=mode, volume=volume)
            return f"music bed ({mode}, {seconds:.2f} s)"

        entry = music_bed_entry(self.music_bed)
        return self._lay_track(downloader, result, published, root, entry, "music_bed", mode, lay, None)

    def _voice_over(
        self,
        downloader: Downloader,
        result: dict[str, Any],
        published: list[PublishedFile],
        root: ObjectStoragePath,
        over: PublishedFile | None,
    ) -> list[PublishedFile]:
        voice_volume, bed_volume = float(self.voice_volume), float(self.bed_volume)

        def lay(video_path: str, voice_path: str, out: str) -> str:
            seconds, voice_seconds = mux_voice_over(
                video_path, voice_path, out, voice_volume=voice_volume, bed_volume=bed_volume
            )
            if voice_seconds > seconds + 0.05:
                self.log.warning(
                    "The voice (%.2f s) is longer than the video (%.2f s): cut at the video's end",
                    voice_seconds,
                    seconds,
                )
            return f"voice-over (voice x{voice_volume:g}, video sound x{bed_volume:g}, {seconds:.2f} s)"

        entry = voice_over_entry(self.voice_over)
        return self._lay_track(downloader, result, published, root, entry, "voice_over", "voice", lay, over)

    def _lay_track(
        self,
        downloader: Downloader,
        result: dict[str, Any],
        published: list[PublishedFile],
        root: ObjectStoragePath,
        entry: tuple[str, str, str],
        kind: str,
        label: str,
        lay: Callable[[str, str, str], str],
        over: PublishedFile | None,
    ) -> list[PublishedFile]:
        return lay_track(
            published,
            entry,
            source_video_entry(self.source_video, result),
            over=over,
            copy=lambda what, ident, fmt, url: self._copy(downloader, root, what, ident, fmt, url),
            root=root,
            conn_id=self.destination_conn_id,
            kind=kind,
            label=label,
            lay=lay,
            log=self.log,
        )


# ---------------------------------------------------------------------- inputs


def _default_asset(destination: str | None) -> Asset:
    if destination is not None and "{{" in destination:
        return Asset(DEFAULT_ASSET_NAME)
    return Asset(uri=as_uri(destination or default_destination()))
