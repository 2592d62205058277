"""Copy Kling results out before Kling deletes them (30 days): safe streamed downloads and a mux.

Kept free of Airflow operator code so it can be reused and tested on its own. ``requests`` and
``av`` are imported inside the functions that need them: importing this module stays cheap.

Every write goes to a hidden temporary name next to the target and is renamed into place only
when complete, so a file under its final name is always whole, and a failure leaves nothing.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import requests
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_QUERY = re.compile(r"\?[^\s'\")]+")
COPY_CHUNK = 1024 * 1024


class PublishError(Exception):
    """A file could not be published (or muxed); ``retryable`` says whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class DownloadLimits:
    """Guards for fetching URLs that come from an API response."""

    max_bytes: int = 1024**3
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # between two received chunks, not for the whole file


@dataclass
class PublishedFile:
    """One file at the destination; ``downloaded`` is False when an equal copy was already there."""

    kind: str  # "video", "audio" or "muxed"
    kling_id: str
    format: str
    path: str
    size: int
    downloaded: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def safe_name(kling_id: str, ext: str, suffix: str = "") -> str:
    """A file name from a Kling id: no separators, no leading dots, nothing outside [A-Za-z0-9_-]."""
    stem = _UNSAFE.sub("_", f"{kling_id}{suffix}").strip("_")
    if not stem:
        raise PublishError(f"cannot derive a file name from Kling id {kling_id!r}", retryable=False)
    return f"{stem}.{ext}"


def redact(url: str) -> str:
    """The URL without its query string (CDN links may carry signatures)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _redact_text(text: str) -> str:
    """An error message with query strings cut (``requests`` quotes the URL it failed on)."""
    return _QUERY.sub("?…", text)


def check_url(url: Any) -> str:
    """Only absolute http(s) URLs are fetched: no file://, ftp:// or relative paths."""
    parts = urlsplit(str(url or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PublishError(f"refusing to download {redact(str(url))!r}: not an http(s) URL", retryable=False)
    return str(url)


def file_size(path: ObjectStoragePath) -> int | None:
    """Size of an existing file, or None."""
    try:
        return int(path.stat().st_size) if path.is_file() else None
    except FileNotFoundError:
        return None


def _temporary_sibling(target: ObjectStoragePath) -> ObjectStoragePath:
    return target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.part"


def _remove_quietly(path: ObjectStoragePath) -> None:
    try:
        if path.exists():
            path.unlink()
    except OSError as exc:  # the original error matters more than the cleanup's
        log.warning("Could not remove temporary file %s: %s", path, exc)


@contextmanager
def atomic_writer(target: ObjectStoragePath) -> Iterator[Any]:
    """Yield a binary file object; on success it becomes ``target``, on any error it is removed."""
    tmp = _temporary_sibling(target)
    try:
        with tmp.open("wb") as out:
            yield out
        tmp.replace(target)
    except BaseException:
        _remove_quietly(tmp)
        raise


class Downloader:
    """Streams URLs to object storage, one keep-alive ``requests.Session`` for all files."""

    def __init__(self, limits: DownloadLimits | None = None) -> None:
        import requests

        self.limits = limits or DownloadLimits()
        self.session = requests.Session()
        # Sizes are compared byte for byte: ask for the file as stored, not re-encoded.
        self.session.headers["Accept-Encoding"] = "identity"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.limits.connect_timeout, self.limits.read_timeout)

    def remote_size(self, url: str) -> int | None:
        """Content-Length from a HEAD request; None when the server does not say (then GET decides)."""
        import requests

        try:
            response = self.session.head(url, timeout=self._timeout, allow_redirects=True)
        except requests.RequestException:
            return None
        length = response.headers.get("Content-Length")
        return int(length) if response.status_code == 200 and length and length.isdigit() else None

    def copy(self, url: str, target: ObjectStoragePath) -> tuple[int, bool]:
        """Publish ``url`` at ``target``; returns (size, downloaded). Skips an equal-size copy."""
        import requests

        check_url(url)
        existing = file_size(target)
        if existing is not None and self.remote_size(url) == existing:
            return existing, False
        try:
            with self.session.get(url, stream=True, timeout=self._timeout) as response:
                return self._write(url, response, target, existing)
        except requests.RequestException as exc:
            # A redirect to a URL requests cannot fetch (file://, ftp://) fails the same way next time.
            unfetchable = isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL))
            raise PublishError(
                f"could not download {redact(url)}: {type(exc).__name__}: {_redact_text(str(exc))}",
                retryable=not unfetchable,
            ) from exc

    def _write(
        self, url: str, response: requests.Response, target: ObjectStoragePath, existing: int | None
    ) -> tuple[int, bool]:
        if response.status_code != 200:
            raise PublishError(
                f"could not download {redact(url)}: HTTP {response.status_code}",
                retryable=response.status_code in (408, 429) or response.status_code >= 500,
            )
        header = response.headers.get("Content-Length", "")
        announced = int(header) if header.isdigit() else None
        self._check_size(url, announced)
        if existing is not None and announced == existing:  # servers that do not answer HEAD
            return existing, False
        written = 0
        with atomic_writer(target) as out:
            for chunk in response.iter_content(chunk_size=COPY_CHUNK):
                written += len(chunk)
                self._check_size(url, written)  # a server may send more than it announced
                out.write(chunk)
            if announced is not None and written != announced:
                raise PublishError(
                    f"download of {redact(url)} ended after {written} of {announced} bytes", retryable=True
                )
        return written, True

    def _check_size(self, url: str, size: int | None) -> None:
        if size is not None and size > self.limits.max_bytes:
            raise PublishError(
                f"{redact(url)} is larger than the {self.limits.max_bytes} byte limit (max_bytes)",
                retryable=False,
            )


def copy_file(source: Path | ObjectStoragePath, target: ObjectStoragePath) -> int:
    """Stream a file to ``target`` atomically; returns its size."""
    with source.open("rb") as src, atomic_writer(target) as out:
        shutil.copyfileobj(src, out, COPY_CHUNK)
    size = file_size(target)
    assert size is not None
    return size


def is_local(path: ObjectStoragePath) -> bool:
    """True for the local filesystem, False for object stores (s3://, gs://, ...)."""
    return path.protocol in ("file", "local", "")


@contextmanager
def local_file(path: ObjectStoragePath) -> Iterator[str]:
    """A local filesystem path with the content of ``path`` (a temporary copy unless it is local)."""
    if is_local(path):
        yield str(path.path)
        return
    with tempfile.TemporaryDirectory(prefix="kling-") as tmp:
        local = Path(tmp) / path.name
        with path.open("rb") as src, local.open("wb") as out:
            shutil.copyfileobj(src, out, COPY_CHUNK)
        yield str(local)


def mux(video_path: str, audio_path: str, out_path: str) -> float:
    """
    Write an MP4 with the video of ``video_path`` and the audio of ``audio_path``; returns seconds.

    The video stream is copied as is (no re-encode, no quality loss); the audio is encoded to
    AAC, which every MP4 player understands, and cut at the video's end so both last as long.
    """
    try:
        import av
    except ImportError:
        raise PublishError(
            "mux=True needs PyAV: pip install 'airflow-provider-kling[media]'", retryable=False
        ) from None
    try:
        return _mux(av, video_path, audio_path, out_path)
    except av.error.FFmpegError as exc:  # a corrupt or unexpected file: trying again will not help
        raise PublishError(f"could not mux {video_path} with {audio_path}: {exc}", retryable=False) from exc


def _mux(av: Any, video_path: str, audio_path: str, out_path: str) -> float:
    with av.open(video_path) as video_in, av.open(audio_path) as audio_in:
        if not video_in.streams.video or not audio_in.streams.audio:
            raise PublishError(
                f"cannot mux: {video_path} needs a video stream, {audio_path} an audio one", retryable=False
            )
        video_stream = video_in.streams.video[0]
        seconds = _seconds(video_in, video_stream)
        audio_stream = audio_in.streams.audio[0]
        with av.open(out_path, mode="w", format="mp4") as out:
            video_out = out.add_stream_from_template(video_stream)
            audio_out = out.add_stream("aac", rate=audio_stream.rate)
            # WAV layouts can be unnamed ("1 channels"): pick by channel count; more than 2 is downmixed.
            audio_out.layout = "mono" if audio_stream.channels == 1 else "stereo"
            audio_out.format = "fltp"  # the only sample format FFmpeg's AAC encoder takes
            for packet in video_in.demux(video_stream):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = video_out
                out.mux(packet)
            for frame in _frames_until(audio_in, audio_stream, seconds):
                out.mux(audio_out.encode(frame))
            out.mux(audio_out.encode(None))
    return seconds


def _seconds(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    raise PublishError("the source video has no readable duration", retryable=False)


def _frames_until(container: Any, stream: Any, seconds: float) -> Iterator[Any]:
    """Decoded audio frames, the last one trimmed so the track ends at ``seconds``.

    Frames are renumbered from 0 in samples: the AAC encoder then shifts its priming samples
    before 0, and the MP4 muxer writes an edit list so players skip them.
    """
    import av

    rate = stream.rate
    budget = round(seconds * rate)
    emitted = 0
    for frame in container.decode(stream):
        if emitted >= budget:
            return
        if emitted + frame.samples > budget:
            keep = budget - emitted
            array = frame.to_ndarray()
            # Planar formats have a row per channel; packed ones interleave channels in one row.
            width = keep if frame.format.is_planar else keep * len(frame.layout.channels)
            frame = av.AudioFrame.from_ndarray(
                array[:, :width], format=frame.format.name, layout=frame.layout.name
            )
            frame.sample_rate = rate
        frame.pts = emitted
        frame.time_base = Fraction(1, rate)
        emitted += frame.samples
        yield frame


# ---------------------------------------------------------------------- music bed

BED_MODES = ("mix", "replace")
BED_RATE = 48000  # the output track's sample rate: AAC's usual one
_BED_FRAME = 1024  # samples per encoded AAC frame


def mux_music_bed(video_path: str, bed_path: str, out_path: str, *, mode: str, volume: float) -> float:
    """
    Write an MP4 of ``video_path`` with ``bed_path`` as a music bed; returns seconds.

    ``mode="mix"``: the bed, scaled by ``volume``, is added under the video's own sound track
    (a silent video gets the scaled bed alone). ``mode="replace"``: the bed, at full level,
    becomes the only track. The video stream is copied as is; the track is stereo AAC and lasts
    exactly as long as the video (a shorter bed ends in silence, a longer one is cut).
    """
    if mode not in BED_MODES:
        raise PublishError(f"music_bed_mode: must be one of {list(BED_MODES)}, not {mode!r}", retryable=False)
    try:
        import av
    except ImportError:
        raise PublishError(
            "music_bed needs PyAV: pip install 'airflow-provider-kling[media]'", retryable=False
        ) from None
    try:
        return _mux_music_bed(av, video_path, bed_path, out_path, mode, volume)
    except av.error.FFmpegError as exc:
        raise PublishError(f"could not lay {bed_path} under {video_path}: {exc}", retryable=False) from exc


def _mux_music_bed(av: Any, video_path: str, bed_path: str, out_path: str, mode: str, volume: float) -> float:
    import numpy as np

    with av.open(video_path) as video_in:
        if not video_in.streams.video:
            raise PublishError(f"cannot add a music bed: {video_path} has no video stream", retryable=False)
        seconds = _seconds(video_in, video_in.streams.video[0])
        has_sound = bool(video_in.streams.audio)
    total = round(seconds * BED_RATE)
    with av.open(bed_path) as bed_in:
        if not bed_in.streams.audio:
            raise PublishError(f"cannot use {bed_path} as a music bed: no audio stream", retryable=False)
        track = _decoded_track(av, np, bed_in, total) * (volume if mode == "mix" else 1.0)
    if mode == "mix" and has_sound:
        with av.open(video_path) as sound_in:
            track += _decoded_track(av, np, sound_in, total)
    np.clip(track, -1.0, 1.0, out=track)
    with av.open(video_path) as video_in, av.open(out_path, mode="w", format="mp4") as out:
        video_stream = video_in.streams.video[0]
        video_out = out.add_stream_from_template(video_stream)
        audio_out = out.add_stream("aac", rate=BED_RATE)
        audio_out.layout, audio_out.format = "stereo", "fltp"
        for packet in video_in.demux(video_stream):
            if packet.dts is None:
                continue
            packet.stream = video_out
            out.mux(packet)
        for start in range(0, total, _BED_FRAME):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(track[:, start : start + _BED_FRAME]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts, frame.time_base = BED_RATE, start, Fraction(1, BED_RATE)
            out.mux(audio_out.encode(frame))
        out.mux(audio_out.encode(None))
    return seconds


def _decoded_track(av: Any, np: Any, container: Any, total: int) -> Any:
    """The first audio stream as a (2, ``total``) float32 array at BED_RATE: padded or cut."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=BED_RATE)
    chunks = []
    for frame in container.decode(container.streams.audio[0]):
        chunks += [f.to_ndarray() for f in resampler.resample(frame)]
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), dtype=np.float32)
    track = np.zeros((2, total), dtype=np.float32)
    n = min(total, samples.shape[1])
    track[:, :n] = samples[:, :n]
    return track
