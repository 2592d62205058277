"""Kling credentials: a refreshed JWT or a static API key, and registering them with Airflow's masker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

JWT_LIFETIME_SECONDS = 1800
JWT_NOT_BEFORE_SKEW_SECONDS = 5
# Refresh this long before ``exp`` so a request in flight never carries an expired token.
JWT_REFRESH_MARGIN_SECONDS = 300


def sign_jwt(access_key: str, secret_key: str, now: float) -> str:
    """HS256 token exactly as Kling documents it: iss, exp = now + 1800, nbf = now - 5."""
    import warnings

    import jwt  # lazy: keeps operator imports cheap

    payload = {
        "iss": access_key,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "nbf": int(now) - JWT_NOT_BEFORE_SKEW_SECONDS,
    }
    with warnings.catch_warnings():
        # PyJWT warns on keys < 32 bytes; the key length is the account's, not ours to choose.
        warnings.simplefilter("ignore")
        return jwt.encode(payload, secret_key, algorithm="HS256", headers={"alg": "HS256", "typ": "JWT"})


class Credentials:
    """Produces the ``Authorization`` header value; never exposes the secret in ``repr``."""

    mode: str = "unknown"

    def authorization(self) -> str:
        raise NotImplementedError

    def invalidate(self) -> bool:
        """Drop a cached token after a 401. Returns whether a retry could help."""
        return False

    def secrets(self) -> list[str]:
        """Values that must be masked in logs."""
        return []

    def identity(self) -> tuple[str, ...]:
        """What Kling checks (to compare two connections; never logged)."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode}>"


class StaticKeyCredentials(Credentials):
    """Reseller proxies: ``Authorization: Bearer <api key>``."""

    mode = "static-api-key"

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def authorization(self) -> str:
        return f"Bearer {self._api_key}"

    def secrets(self) -> list[str]:
        return [self._api_key]

    def identity(self) -> tuple[str, ...]:
        return (self._api_key,)


class JwtCredentials(Credentials):
    """Official API: a JWT signed from access key + secret key, cached until shortly before expiry."""

    mode = "jwt"

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        clock: Callable[[], float] = time.time,
        on_new_token: Callable[[str], None] | None = None,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock
        self._on_new_token = on_new_token
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires_at - JWT_REFRESH_MARGIN_SECONDS:
                self._token = sign_jwt(self._access_key, self._secret_key, now)
                self._expires_at = int(now) + JWT_LIFETIME_SECONDS
                if self._on_new_token is not None:
                    self._on_new_token(self._token)
            return self._token

    def authorization(self) -> str:
        return f"Bearer {self.token()}"

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def secrets(self) -> list[str]:
        return [self._secret_key] + ([self._token] if self._token else [])

    def identity(self) -> tuple[str, ...]:
        return (self._access_key, self._secret_key)


def mask_pending(secrets: list[str]) -> None:
    """Register new secrets with Airflow's masker (task process and, via comms, its supervisor)."""
    from airflow.sdk.log import mask_secret

    while secrets:
        mask_secret(secrets.pop())


async def amask_pending(secrets: list[str]) -> None:
    """The same from async code: ``amask_secret`` talks to the supervisor without blocking the loop."""
    import airflow.sdk.log as sdk_log

    amask_secret = getattr(sdk_log, "amask_secret", None)  # Airflow 3.3+; older: the sync one
    while secrets:
        secret = secrets.pop()
        if amask_secret is not None:
            await amask_secret(secret)
        else:
            sdk_log.mask_secret(secret)
