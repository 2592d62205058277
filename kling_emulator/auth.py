"""Who is calling: an API key (Bearer) or a legacy HS256 JWT signed with an access key and secret key.

Contract: docs/kling-api.md#auth; the 1000-1004 answers are in docs/kling-api.md#error-codes.
"""

from __future__ import annotations

import warnings

import jwt
from aiohttp import web

from kling_emulator.errors import (
    KlingAPIFailure,
)
from kling_emulator.state import EmulatorConfig

# ---------------------------------------------------------------------------- auth


def authenticate(request: web.Request, config: EmulatorConfig) -> str:
    """Return the caller's account (``EmulatorConfig.account_of``), or raise a 1000-1004 failure.

    Every key of one account sees the same tasks and shares its limits and packs
    (docs/kling-api.md#concurrency: "shared by all API keys").
    """
    header = request.headers.get("Authorization", "")
    if not header.strip():
        raise KlingAPIFailure(1001, "Authorization is empty")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise KlingAPIFailure(1002, "Authorization is invalid")
    if token in config.api_keys:
        return config.account_of(token)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        access_key = str(claims.get("iss", ""))
    except jwt.PyJWTError:
        raise KlingAPIFailure(1002, "Authorization is invalid") from None
    secret = config.access_keys.get(access_key)
    if secret is None:
        raise KlingAPIFailure(1002, "Authorization is invalid")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short test secrets are the caller's choice
            jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "nbf", "iss"]})
    except jwt.ImmatureSignatureError:
        raise KlingAPIFailure(1003, "Authorization is not yet valid") from None
    except jwt.ExpiredSignatureError:
        raise KlingAPIFailure(1004, "Authorization is expired") from None
    except jwt.PyJWTError:
        raise KlingAPIFailure(1002, "Authorization is invalid") from None
    return config.account_of(access_key)
