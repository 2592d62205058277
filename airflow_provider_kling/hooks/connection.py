"""What a ``kling`` connection holds: its form, its base URL and the HTTP settings in its extra.

One place names the fields: the hook reads them (``read_extra``, ``base_url``), the connection
form shows them (``UI_FIELD_BEHAVIOUR`` and ``CONN_FIELDS`` in ``get_provider_info``). Stdlib
only: the provider info imports it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import ssl

    from airflow_provider_kling.exceptions import KlingValidationError

MAX_RETRIES_LIMIT = 20


@dataclass(frozen=True)
class NetSettings:
    """Proxy and TLS settings of a connection, as the http provider's extra spells them.

    ``proxies``: (key, proxy URL) pairs as ``requests`` reads them (``"https"``, ``"http"``,
    ``"all"``, ``"https://host"``); ``verify``: True, False or a CA bundle file / directory;
    ``cert``: a client certificate file, or (certificate, key). Hashable: the transport keeps one
    connection pool per distinct setting.
    """

    proxies: tuple[tuple[str, str], ...] = ()
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    trust_env: bool = True

    def proxy_for(self, url: str) -> str | None:
        """The proxy for ``url``, picked as ``requests.utils.select_proxy`` does (None: direct)."""
        if not self.proxies:
            return None
        from requests.utils import select_proxy

        return select_proxy(url, dict(self.proxies))

    def secrets(self) -> list[str]:
        """Proxy URLs that carry a password, and those passwords: for Airflow's masker."""
        found = []
        for _, url in self.proxies:
            password = urlsplit(url).password
            if password:
                found += [url, password]
        return found

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What aiohttp's ``ssl=`` takes: True (system CAs), False (no verification) or a context."""
        if self.verify is True and self.cert is None:
            return True
        import ssl

        context = ssl.create_default_context()
        if self.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif isinstance(self.verify, str):
            if os.path.isdir(self.verify):
                context = ssl.create_default_context(capath=self.verify)
            else:
                context = ssl.create_default_context(cafile=self.verify)
        if isinstance(self.cert, str):
            context.load_cert_chain(self.cert)
        elif self.cert is not None:
            context.load_cert_chain(*self.cert)
        return context

    def requests_options(self) -> dict[str, Any]:
        """``proxies``, ``verify``, ``cert`` for each ``requests`` call (as ``HttpHook.run_and_check`` does).

        Per call, not on the session: ``requests`` lets ``REQUESTS_CA_BUNDLE`` override a session's verify.
        """
        return {"proxies": dict(self.proxies), "verify": self.verify, "cert": self.cert}


@dataclass(frozen=True)
class ExtraSettings:
    """What the extra sets; ``None`` leaves the hook's default."""

    request_timeout: float | None = None
    max_retries: int | None = None
    retry_min_wait: float | None = None
    retry_max_wait: float | None = None
    net: NetSettings = field(default_factory=NetSettings)


# Airflow 3.2+ reads this from get_provider_info; 3.1 from get_ui_field_behaviour (legacy_ui_field_behaviour).
# "schema" is hidden because the Base URL carries the scheme; "extra" is hidden in
# the Airflow 2 form (the Airflow 3 form always shows its "Extra Fields JSON" box).
# The port stays visible: Airflow 3.3.2's row "Test" button sends port 0 for a
# connection without one and the API refuses it (fixed in apache/airflow#73298).
# Kling documents the API key "for all models" and AK/SK -> JWT for the legacy
# design only: the labels put the API key first. Auth stays in the standard fields
# (password = API key, login empty) so existing connections keep working.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "extra"],
    "relabeling": {
        "host": "Base URL",
        "login": "Access key (legacy JWT)",
        "password": "API key (or legacy secret key)",
    },
    "placeholders": {
        "host": (
            "https://api-singapore.klingai.com (China: https://api-beijing.klingai.com; "
            "proxy: https://www.kkiai.com/kling)"
        ),
        "login": "leave empty for an API key; legacy design (JWT): your access key",
        "password": "your API key (official or proxy); legacy design: your secret key",
        "port": "443 (set a port: Airflow 3.3.2's Test button needs one)",
    },
}


def legacy_ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` as Airflow 3.1's ``get_ui_field_behaviour`` returns it (fresh copies)."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }


# Field name -> (label, description, JSON schema): what the Airflow 3 connection form renders.
# Optional fields allow null, or the form would show them as required.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "request_timeout": {
        "label": "Request timeout (s)",
        "description": "Seconds for one HTTP request to Kling, connect + read (default 60).",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "max_retries": {
        "label": "Retries per request",
        "description": (
            "How often one request is retried on 1302/1303, 5xx, timeouts and connection errors "
            "(default 5). Other errors are never retried."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
    },
    "retry_min_wait": {
        "label": "First retry wait (s)",
        "description": "Backoff before the first retry; doubles per retry, with jitter (default 1).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "retry_max_wait": {
        "label": "Largest retry wait (s)",
        "description": "The backoff never exceeds this (default 60; 1303 waits up to 4x longer).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    # Proxy and TLS: the http provider's extra keys, read by its own reader (``read_net``).
    "proxies": {
        "label": "Proxies",
        "description": (
            'Proxy per scheme, as for an http connection: {"https": "http://proxy:3128"} (JSON), or one '
            "proxy URL for all. Used for every Kling call and for downloads when publishing. "
            "Default: none (HTTPS_PROXY etc. from the environment apply unless trust_env is false)."
        ),
        "schema": {"type": ["string", "object", "null"]},
    },
    "verify": {
        "label": "Verify TLS",
        "description": (
            "true (default: the system's CAs), false (no certificate check: test setups only), "
            "or the path of a CA bundle (file or directory) on the workers and the triggerer, "
            "e.g. /etc/ssl/certs/corporate-ca.pem."
        ),
        "schema": {"type": ["string", "boolean", "null"]},
    },
    "cert": {
        "label": "Client certificate",
        "description": (
            "For mutual TLS: the path of a PEM file with certificate and key, or "
            '["/path/client.crt", "/path/client.key"] (JSON). Default: none.'
        ),
        "schema": {"type": ["string", "array", "null"]},
    },
}


def redact_proxy(url: str) -> str:
    """A proxy URL without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _refused(conn_id: str, rule: str) -> KlingValidationError:
    from airflow_provider_kling.exceptions import KlingValidationError

    return KlingValidationError(f"Connection {conn_id!r}: extra field {rule}")


def _number(extra: Mapping[str, Any], name: str, conn_id: str, *, integer: bool = False) -> Any:
    value = extra.get(name)
    if value is None or value == "":  # the form stores a cleared field as null or ""
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        value = None
    elif integer and value != int(value):
        value = None  # 2.5 retries
    if value is None:
        kind = "a whole number" if integer else "a number of seconds"
        raise _refused(conn_id, f"{name}: must be {kind}, got {extra.get(name)!r}")
    return int(value) if integer else float(value)


def read_extra(extra: Mapping[str, Any], conn_id: str) -> ExtraSettings:
    """Validate the extra's HTTP settings; the error names the connection, the field and the rule."""
    timeout = _number(extra, "request_timeout", conn_id)
    retries = _number(extra, "max_retries", conn_id, integer=True)
    min_wait = _number(extra, "retry_min_wait", conn_id)
    max_wait = _number(extra, "retry_max_wait", conn_id)

    def refuse(rule: str) -> KlingValidationError:
        return _refused(conn_id, rule)

    if timeout is not None and timeout <= 0:
        raise refuse(f"request_timeout: must be greater than 0, got {timeout:g}")
    if retries is not None and not 0 <= retries <= MAX_RETRIES_LIMIT:
        raise refuse(f"max_retries: must be 0..{MAX_RETRIES_LIMIT}, got {retries}")
    for name, value in (("retry_min_wait", min_wait), ("retry_max_wait", max_wait)):
        if value is not None and value < 0:
            raise refuse(f"{name}: must not be negative, got {value:g}")
    if min_wait is not None and max_wait is not None and max_wait < min_wait:
        raise refuse(f"retry_max_wait: must be at least retry_min_wait ({min_wait:g}), got {max_wait:g}")
    return ExtraSettings(timeout, retries, min_wait, max_wait, read_net(extra, conn_id))


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else ""
    return {"true": True, "false": False}.get(text)


def read_net(extra: Mapping[str, Any], conn_id: str) -> NetSettings:
    """``proxies``, ``verify``, ``cert`` and ``trust_env`` of the extra, checked (errors name field, rule).

    The keys and their aliases (``proxy``, ``verify_ssl``) are picked out by the http provider's own
    reader, so a Kling connection reads them exactly as an ``http`` one does.
    """
    cleared = {k: v for k, v in extra.items() if v is not None and v != ""}  # a cleared form field
    options = _http_provider_options(cleared)
    net = NetSettings(
        proxies=_proxies(options.get("proxy"), conn_id),
        verify=_verify(options.get("verify_ssl", True), conn_id),
        cert=_cert(options.get("cert"), conn_id),
        trust_env=_flag(options.get("trust_env", True), "trust_env", conn_id),
    )
    try:
        net.ssl_context()  # a file that is no CA bundle or certificate is refused here, not mid-run
    except OSError as exc:  # ssl.SSLError is an OSError
        raise _refused(conn_id, f"verify/cert: cannot be loaded ({exc})") from None
    return net


def _http_provider_options(extra: dict[str, Any]) -> dict[str, Any]:
    """The http provider's reading of the extra: ``proxy``, ``verify_ssl``, ``cert``, ``trust_env``."""
    try:
        from airflow.providers.http.hooks.http import _process_extra_options_from_connection
    except ImportError:  # an http provider without the module-level reader: the same keys, read alike
        return {
            "proxy": extra.get("proxies", extra.get("proxy")),
            "verify_ssl": extra.get("verify", extra.get("verify_ssl", True)),
            "cert": extra.get("cert"),
            "trust_env": extra.get("trust_env", True),
        }
    from types import SimpleNamespace

    _, options = _process_extra_options_from_connection(SimpleNamespace(extra_dejson=extra), {})
    return options


def _flag(value: Any, name: str, conn_id: str) -> bool:
    flag = _boolean(value)
    if flag is None:
        raise _refused(conn_id, f"{name}: must be true or false, got {value!r}")
    return flag


def _proxies(value: Any, conn_id: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            raise _refused(conn_id, "proxies: not valid JSON") from None
    if isinstance(value, str):
        value = {"all": value}  # one proxy for every scheme, as the async http hook takes it
    if not isinstance(value, Mapping):
        raise _refused(
            conn_id, f'proxies: must be a dict like {{"https": "http://proxy:3128"}}, got {value!r}'
        )
    pairs = []
    for key, url in value.items():
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            shown = redact_proxy(url) if isinstance(url, str) else repr(url)
            raise _refused(
                conn_id, f"proxies[{key!r}]: must be an http:// or https:// proxy URL, got {shown}"
            )
        pairs.append((str(key), url.strip()))
    return tuple(sorted(pairs))


def _existing(path: Any, rule: str, conn_id: str) -> str:
    if not isinstance(path, str) or not path.strip():
        raise _refused(conn_id, f"{rule}, got {path!r}")
    path = os.path.expanduser(path.strip())
    if not os.path.exists(path):
        raise _refused(conn_id, f"{rule}: {path!r} does not exist on this machine")
    return path


def _verify(value: Any, conn_id: str) -> bool | str:
    flag = _boolean(value)
    if flag is not None:
        return flag
    return _existing(value, "verify: must be true, false or the path of a CA bundle", conn_id)


def _cert(value: Any, conn_id: str) -> str | tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise _refused(conn_id, "cert: not valid JSON") from None
    rule = "cert: must be the path of a client certificate, or [certificate, key]"
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _refused(conn_id, f"{rule}, got {len(value)} items")
        return (_existing(value[0], rule, conn_id), _existing(value[1], rule, conn_id))
    return _existing(value, rule, conn_id)


def base_url(host: str | None, schema: str | None, port: int | None, default: str) -> str:
    """The base URL from the connection's Host (which may carry a proxy's path prefix), Schema and Port."""
    url = (host or "").strip() or default
    if "://" not in url:
        scheme = (schema or "https").strip() or "https"
        url = f"{scheme}://{url}"
    if port and url.count(":") < 2:
        # host may carry a path prefix: put the port right after the authority.
        scheme, rest = url.split("://", 1)
        authority, _, path = rest.partition("/")
        url = f"{scheme}://{authority}:{port}" + (f"/{path}" if path else "")
    return url.rstrip("/")
