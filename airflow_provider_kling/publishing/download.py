"""Streamed, size-capped downloads of Kling's files into storage you own, written atomically.

Kept free of Airflow operator code so it can be reused and tested on its own. ``requests`` is
imported inside the functions that need it: importing this module stays cheap.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import requests
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_kling.hooks.connection import NetSettings

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
    """Streams URLs to object storage, one keep-alive ``requests.Session`` for all files.

    ``net``: the Kling connection's proxy and TLS settings (``proxies``, ``verify``, ``cert``),
    passed with every request as the http provider's ``HttpHook.run_and_check`` passes them.
    """

    def __init__(self, limits: DownloadLimits | None = None, net: NetSettings | None = None) -> None:
        import requests

        self.limits = limits or DownloadLimits()
        self.session = requests.Session()
        self._hidden = net.secrets() if net is not None else []
        self._options = net.requests_options() if net is not None else {}
        self.session.trust_env = net.trust_env if net is not None else True
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
            response = self.session.head(url, timeout=self._timeout, allow_redirects=True, **self._options)
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
            with self.session.get(url, stream=True, timeout=self._timeout, **self._options) as response:
                return self._write(url, response, target, existing)
        except requests.RequestException as exc:
            # A redirect to a URL requests cannot fetch (file://, ftp://) fails the same way next time.
            unfetchable = isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL))
            raise PublishError(
                f"could not download {redact(url)}: {type(exc).__name__}: {self._hide(str(exc))}",
                retryable=not unfetchable,
            ) from exc

    def _hide(self, text: str) -> str:
        """An error text without query strings or a proxy's password."""
        for secret in self._hidden:
            text = text.replace(secret, "***")
        return _redact_text(text)

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
