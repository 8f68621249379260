"""Command line: ``kafkaish serve`` starts the broker; ``kafkaish topics`` administers one."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from kafkaish.config import SettingsError, load_settings


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="start a broker")
    p.add_argument("--config", help="TOML file of settings (keys as in kafkaish.config.Settings)")
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 9092; 0 picks a free port)")
    p.add_argument("--advertised-host", help="host clients are told to use (default: --host)")
    p.add_argument("--advertised-port", type=int, help="port clients are told to use (default: the bound port)")
    p.add_argument("--in-memory", action="store_const", const=True, help="keep data in memory only")
    p.add_argument("--data-dir", help="data directory of the file engine (default ./kafkaish-data)")
    p.add_argument("--fsync", choices=["always", "interval", "never"], help="durability (default interval)")
    p.add_argument("--fsync-interval-ms", type=int)
    p.add_argument("--auto-create-topics", dest="auto_create_topics", action=argparse.BooleanOptionalAction,
                   default=None, help="create unknown topics on first use (default on)")
    p.add_argument("--default-partitions", type=int, help="partitions of auto-created topics (default 1)")
    p.add_argument("--message-max-bytes", type=int, help="largest record batch accepted (default 1048588)")
    p.add_argument("--node-id", type=int)
    p.add_argument("--cluster-id", help="cluster id of a new data dir (a data dir keeps its own)")
    p.add_argument("--group-initial-rebalance-delay-ms", type=int)
    p.add_argument("--log-retention-check-interval-ms", type=int,
                   help="how often retention deletes old segments (default 300000, first run after 30 s)")
    p.add_argument("--sasl-user", dest="sasl_user", action="append", metavar="USER:PASSWORD",
                   help="a SASL PLAIN/SCRAM user (repeatable); without any, PLAIN accepts anyone")
    p.add_argument("--log-level")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkaish", description="A Kafka-wire-compatible log server")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    try:
        from kafkaish import cli_topics
    except ImportError:
        pass
    else:
        cli_topics.add_subparsers(sub)
    return parser


def cmd_serve(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("command", "config", "func", "sasl_user") and v is not None}
    if args.sasl_user:
        if any(":" not in u for u in args.sasl_user):
            print("kafkaish: --sasl-user takes USER:PASSWORD", file=sys.stderr)
            return 2
        overrides["sasl_users"] = dict(u.split(":", 1) for u in args.sasl_user)
    try:
        settings = load_settings(args.config, **overrides)
    except SettingsError as e:
        print(f"kafkaish: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kafkaish.broker import Broker
    from kafkaish.server import serve

    try:
        broker = Broker(settings)
    except (OSError, RuntimeError) as e:  # data dir in use, unreadable, ...
        print(f"kafkaish: cannot open storage: {e}", file=sys.stderr)
        return 1

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(host: str, port: int) -> None:
            print(f"kafkaish ready on {host}:{port}", flush=True)

        await serve(broker, ready, stop)

    try:
        asyncio.run(main())
    except OSError as e:  # e.g. the port is taken
        broker.close()
        print(f"kafkaish: cannot listen on {settings.host}:{settings.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    logging.getLogger("kafkaish").info("stopped cleanly")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
