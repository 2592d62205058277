"""Run the emulator: in a background thread (tests, demos) or in the current loop."""

from __future__ import annotations

import asyncio
import ssl
import threading
from types import TracebackType

from aiohttp import web

from kling_emulator.app import KlingEmulator
from kling_emulator.state import EmulatorConfig


class EmulatorServer:
    """A real HTTP server on ``host``:``port`` (0 = a free port), in its own thread and loop.

    >>> with EmulatorServer() as server:
    ...     server.url  # e.g. http://127.0.0.1:40123 (plus the configured prefix)
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_client_ca: str | None = None,
    ) -> None:
        """``tls_cert`` (PEM, with the key unless ``tls_key`` is given): serve HTTPS instead of HTTP;
        ``tls_client_ca``: also require a client certificate signed by this CA (mutual TLS)."""
        self.emulator = KlingEmulator(config)
        self.host = host
        self.port = port
        self._ssl: ssl.SSLContext | None = None
        if tls_cert:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(tls_cert, tls_key)
            if tls_client_ca:
                self._ssl.load_verify_locations(tls_client_ca)
                self._ssl.verify_mode = ssl.CERT_REQUIRED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    @property
    def root_url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL to put in the Kling connection (includes the prefix, if any)."""
        return self.root_url + self.config.prefix.rstrip("/")

    async def start_async(self) -> None:
        """Start serving on the running loop (used by the CLI and by single-loop benchmarks)."""
        self._runner = web.AppRunner(self.emulator.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096, ssl_context=self._ssl)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._serve, name="kling-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"Kling emulator failed to start: {self._error}") from self._error
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.start_async())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.stop_async())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
