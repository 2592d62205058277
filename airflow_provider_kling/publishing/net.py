"""The proxy and TLS settings publishing downloads take from the Kling connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.connection import NetSettings


def connection_net_settings(kling_conn_id: str | None) -> NetSettings | None:
    """The connection's proxy and TLS settings, masked in logs.

    ``None`` when no id was given and the default Kling connection does not exist (downloads then
    go direct); a named connection that does not exist is an error.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_kling import DEFAULT_CONN_ID
    from airflow_provider_kling.hooks.auth import mask_pending
    from airflow_provider_kling.hooks.connection import read_net

    conn_id = kling_conn_id or DEFAULT_CONN_ID
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if kling_conn_id:
            raise
        return None
    net = read_net(conn.extra_dejson or {}, conn_id)
    mask_pending(net.secrets())
    return net
