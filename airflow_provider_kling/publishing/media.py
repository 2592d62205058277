"""Media work on published files (PyAV): mux a soundtrack into its video, lay a music bed or a voice.

``av`` and ``numpy`` are imported inside the functions that need them: importing this module
stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.publishing.download import PublishError

if TYPE_CHECKING:
    pass


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

    seconds, has_sound = _video_facts(av, video_path, "add a music bed")
    total = round(seconds * BED_RATE)
    with av.open(bed_path) as bed_in:
        if not bed_in.streams.audio:
            raise PublishError(f"cannot use {bed_path} as a music bed: no audio stream", retryable=False)
        track = _decoded_track(av, np, bed_in, total) * (volume if mode == "mix" else 1.0)
    if mode == "mix" and has_sound:
        with av.open(video_path) as sound_in:
            track += _decoded_track(av, np, sound_in, total)
    _write_with_track(av, np, video_path, out_path, track)
    return seconds


def _video_facts(av: Any, video_path: str, doing: str) -> tuple[float, bool]:
    """(seconds, has a sound track) of the video the new track goes into."""
    with av.open(video_path) as video_in:
        if not video_in.streams.video:
            raise PublishError(f"cannot {doing}: {video_path} has no video stream", retryable=False)
        return _seconds(video_in, video_in.streams.video[0]), bool(video_in.streams.audio)


def _write_with_track(av: Any, np: Any, video_path: str, out_path: str, track: Any) -> None:
    """An MP4 of ``video_path``'s video (copied) and ``track`` (2 x samples, BED_RATE) as stereo AAC."""
    np.clip(track, -1.0, 1.0, out=track)
    total = track.shape[1]
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


# ---------------------------------------------------------------------- voice-over


def mux_voice_over(
    video_path: str, voice_path: str, out_path: str, *, voice_volume: float, bed_volume: float
) -> tuple[float, float]:
    """
    Write an MP4 of ``video_path`` with the speech of ``voice_path`` over its own sound.

    The track is ``voice * voice_volume + the video's sound * bed_volume`` (the video's sound
    effects and music stay under the voice, at ``bed_volume``; a silent video gets the voice
    alone), stereo AAC, as long as the video: a longer voice is cut at the video's end. The
    video stream is copied as is. Returns (video seconds, voice seconds before any cut).
    """
    try:
        import av
    except ImportError:
        raise PublishError(
            "voice_over needs PyAV: pip install 'airflow-provider-kling[media]'", retryable=False
        ) from None
    try:
        return _mux_voice_over(av, video_path, voice_path, out_path, voice_volume, bed_volume)
    except av.error.FFmpegError as exc:
        raise PublishError(f"could not lay {voice_path} over {video_path}: {exc}", retryable=False) from exc


def _mux_voice_over(
    av: Any, video_path: str, voice_path: str, out_path: str, voice_volume: float, bed_volume: float
) -> tuple[float, float]:
    import numpy as np

    seconds, has_sound = _video_facts(av, video_path, "lay a voice-over")
    total = round(seconds * BED_RATE)
    with av.open(voice_path) as voice_in:
        if not voice_in.streams.audio:
            raise PublishError(f"cannot use {voice_path} as a voice-over: no audio stream", retryable=False)
        voice = _decoded_track(av, np, voice_in, None)
    voice_seconds = voice.shape[1] / BED_RATE
    track = np.zeros((2, total), dtype=np.float32)
    n = min(total, voice.shape[1])
    track[:, :n] = voice[:, :n] * voice_volume
    if has_sound and bed_volume > 0:
        with av.open(video_path) as sound_in:
            track += _decoded_track(av, np, sound_in, total) * bed_volume
    _write_with_track(av, np, video_path, out_path, track)
    return seconds, voice_seconds


def _decoded_track(av: Any, np: Any, container: Any, total: int | None) -> Any:
    """The first audio stream as a (2, ``total``) float32 array at BED_RATE: padded or cut
    (``total=None``: as long as the stream)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=BED_RATE)
    chunks = []
    for frame in container.decode(container.streams.audio[0]):
        chunks += [f.to_ndarray() for f in resampler.resample(frame)]
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), dtype=np.float32)
    if total is None:
        return samples.astype(np.float32, copy=False)
    track = np.zeros((2, total), dtype=np.float32)
    n = min(total, samples.shape[1])
    track[:, :n] = samples[:, :n]
    return track
