"""``kling-emulator``: a local Kling API for building pipelines without spending credits."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from kling_emulator import persist
from kling_emulator.billing import ResourcePack, default_packs
from kling_emulator.server import EmulatorServer
from kling_emulator.state import (
    CALLBACK_FORMATS,
    DEFAULT_ACCESS_KEY,
    DEFAULT_API_KEY,
    DEFAULT_SECRET_KEY,
    EmulatorConfig,
    FaultRates,
)

# --fault-<name> RATE: probability per API request (see FaultRates).
FAULT_FLAGS = {
    "5xx": ("server_error", "answer 5000-5002 / HTTP 5xx (for a submit: half the time after creating it)"),
    "1302": ("rate_limited", "answer 1302 rate limit"),
    "1303": ("concurrency_limited", "answer 1303 concurrency limit (submits only)"),
    "reset-before": ("reset_before", "drop the connection before handling the request"),
    "reset-after": ("reset_after", "handle the request (create the task), then drop the connection"),
    "slow": ("slow", "answer only after --slow-seconds (past the client's timeout)"),
    "malformed-json": ("malformed_json", "answer a truncated JSON body"),
    "empty-body": ("empty_body", "answer a bare {}"),
    "task-failure": ("task_failure", "make the created task end 'failed' with a status message"),
}


DEFAULT_CREDENTIALS = (
    "Default credentials (accepted unless you set others): "
    f"API key {DEFAULT_API_KEY!r} (connection: login empty, password = the key); "
    f"access key {DEFAULT_ACCESS_KEY!r} with secret key {DEFAULT_SECRET_KEY!r} "
    "(connection: login = access key, password = secret key). All keys belong to one account "
    "unless --account says otherwise: it shares the parallel-task limit, the tasks and the packs."
)


def _account(text: str) -> tuple[str, str]:
    credential, sep, account = text.partition("=")
    if not sep or not credential or not account:
        raise argparse.ArgumentTypeError(f"expected KEY=ACCOUNT, got {text!r}")
    return credential, account


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kling-emulator", description=__doc__, epilog=DEFAULT_CREDENTIALS)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--prefix", default="", help="path prefix, as a reseller proxy has (e.g. /kling)")
    p.add_argument(
        "--access-key", default=DEFAULT_ACCESS_KEY, help="access key (JWT iss); default: %(default)s"
    )
    p.add_argument("--secret-key", default=DEFAULT_SECRET_KEY, help="secret key (JWT); default: %(default)s")
    p.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="API key accepted as Bearer; default: %(default)s"
    )
    p.add_argument(
        "--account",
        action="append",
        type=_account,
        default=[],
        metavar="KEY=ACCOUNT",
        help="put an API key or access key into an account (repeatable; default: all in one account)",
    )
    p.add_argument("--submitted-seconds", type=float, default=1.0, help="time a task stays 'submitted'")
    p.add_argument("--processing-seconds", type=float, default=5.0, help="time a task stays 'processing'")
    p.add_argument(
        "--max-concurrent-tasks",
        type=int,
        default=None,
        help="parallel tasks per account and pack type, video or image (1303)",
    )
    p.add_argument(
        "--max-requests-per-second", type=float, default=None, help="rate limit per account (1302)"
    )
    p.add_argument(
        "--resource-pack",
        action="append",
        type=ResourcePack.parse,
        metavar="NAME=TOTAL[/REMAINING]",
        help="a resource pack (repeatable; default: one of 1,000,000 units); submits answer 1102 once "
        "all are used up",
    )
    p.add_argument(
        "--units-per-second",
        type=float,
        default=0.2,
        help="made-up price: units a succeeded task costs per second of output",
    )
    p.add_argument("--port-file", default=None, help="write the bound port here once listening")
    p.add_argument(
        "--tls-cert", default=None, help="serve HTTPS with this PEM certificate (and key, unless --tls-key)"
    )
    p.add_argument("--tls-key", default=None, help="the PEM private key of --tls-cert")
    p.add_argument(
        "--tls-client-ca", default=None, help="with --tls-cert: require client certificates from this CA"
    )
    p.add_argument(
        "--webhook-secret",
        default=os.environ.get("KLING_EMULATOR_WEBHOOK_SECRET"),
        help="a whsec_ secret: sign callbacks with the Webhook Signature (default: "
        "$KLING_EMULATOR_WEBHOOK_SECRET, which keeps it out of the process list; unsigned without)",
    )
    p.add_argument(
        "--callback-format",
        choices=CALLBACK_FORMATS,
        default="legacy",
        help="callback body: legacy (bare task object, as the /v1 endpoints send) or new (new design)",
    )
    p.add_argument(
        "--extra-model",
        action="append",
        default=[],
        metavar="NAME",
        help="accept this video model_name with the generic rules (repeatable); unknown ones get 1203",
    )
    p.add_argument(
        "--state-file",
        default=None,
        help="load tasks and counters from this file at start (if it exists), save them on SIGTERM/SIGINT",
    )
    faults = p.add_argument_group("fault injection (rates are probabilities 0..1 per API request)")
    for flag, (_, help_text) in FAULT_FLAGS.items():
        faults.add_argument(f"--fault-{flag}", type=float, default=0.0, metavar="RATE", help=help_text)
    faults.add_argument("--slow-seconds", type=float, default=2.0, help="delay of a --fault-slow answer")
    faults.add_argument("--seed", type=int, default=None, help="seed of the fault generator")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The configuration the flags describe; a bad ``--webhook-secret`` is a ValueError (not echoed)."""
    return EmulatorConfig(
        access_keys={args.access_key: args.secret_key},
        api_keys={args.api_key} if args.api_key else set(),
        accounts=dict(args.account),
        prefix=args.prefix,
        submitted_seconds=args.submitted_seconds,
        processing_seconds=args.processing_seconds,
        max_concurrent_tasks=args.max_concurrent_tasks,
        max_requests_per_second=args.max_requests_per_second,
        webhook_secret=args.webhook_secret or None,
        callback_format=args.callback_format,
        extra_models=list(args.extra_model),
        resource_packs=args.resource_pack or default_packs(),
        units_per_second=args.units_per_second,
        fault_rates=FaultRates(
            slow_seconds=args.slow_seconds,
            **{
                name: getattr(args, "fault_" + flag.replace("-", "_"))
                for flag, (name, _) in FAULT_FLAGS.items()
            },
        ),
        seed=args.seed,
    )


def banner_lines(args: argparse.Namespace, url: str) -> list[str]:
    """What the emulator prints once listening: where, and the credentials a connection needs.

    The built-in credentials are shown (they are in the source anyway); ones you chose are not echoed.
    """
    secret = args.secret_key if args.secret_key == DEFAULT_SECRET_KEY else "<--secret-key>"
    api_key = args.api_key if args.api_key == DEFAULT_API_KEY else "<--api-key>"
    signed = "signed (Webhook Signature)" if args.webhook_secret else "unsigned"
    return [
        f"Kling emulator listening on {url}",
        f"  API key:       login empty, password={api_key}",
        f"  AK/SK (JWT):   login={args.access_key} password={secret}",
        f"  callbacks:     {args.callback_format} format, {signed}",
    ]


async def serve(args: argparse.Namespace) -> None:
    server = EmulatorServer(
        config_from_args(args),
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
    )
    if args.state_file and persist.load(server.emulator, args.state_file):
        print(f"  restored {len(server.emulator.store.tasks)} tasks from {args.state_file}", flush=True)
    await server.start_async()
    for line in banner_lines(args, server.url):
        print(line, flush=True)
    if args.port_file:
        with open(args.port_file, "w") as fh:
            fh.write(str(server.port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop_async()
    if args.state_file:
        persist.save(server.emulator, args.state_file)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config_from_args(args)  # refuse a bad secret before binding a port
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
