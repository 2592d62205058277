"""Keeping a renamed keyword argument working for a while, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed_keyword(old: str, new: str, *, until: str = "1.0") -> Callable[[F], F]:
    """``f(old=x)`` works as ``f(new=x)`` (sync or async ``f``), warning that ``old`` goes in ``until``."""

    def decorate(func: F) -> F:
        def translate(kwargs: dict[str, Any]) -> dict[str, Any]:
            if old not in kwargs:
                return kwargs
            if new in kwargs:
                raise TypeError(f"{func.__qualname__}() got both {old!r} and {new!r}")
            warnings.warn(
                f"{func.__qualname__}({old}=...) is now {new}=...; {old} goes in {until}",
                DeprecationWarning,
                stacklevel=3,
            )
            kwargs = dict(kwargs)
            kwargs[new] = kwargs.pop(old)
            return kwargs

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await func(*args, **translate(kwargs))

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **translate(kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate
