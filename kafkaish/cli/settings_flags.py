"""``serve``'s flags, generated from the ``Settings`` model, and the serve runner.

Every field of ``kafkaish.config.Settings`` (as the generated table ``kafkaish.config_fields``
lists it) becomes ``--field-name`` (booleans also get ``--no-field-name``); the help names the
``KAFKAISH_*`` variable and the default, so a new setting needs no CLI change. ``flag_specs`` is
the one list; ``kafkaish.cli.serve`` renders it as a click command (help, completion) and
``argparse_parser`` as the parser ``kafkaish serve`` runs with, which keeps click and rich out of
the broker's start time. Flags are passed to ``load_quick`` as overrides: the precedence flags >
environment > TOML file > defaults is pydantic-settings' (``kafkaish.config``), which decides
every input ``kafkaish.config_quick`` does not accept as plainly valid, so pydantic is not
imported on the usual start.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from kafkaish.config_fields import FIELDS
from kafkaish.config_quick import SettingsError, load_quick

ENV_PREFIX = "KAFKAISH_"
CONFIG_HELP = ("TOML file of settings, keys as the flags with underscores (port = 9093). "
               "[env KAFKAISH_CONFIG_FILE]")
SASL_USER_HELP = "A SASL PLAIN/SCRAM user, repeatable; adds to --sasl-users."
LISTENER_HELP = "A listener NAME://HOST:PORT (e.g. SASL_SSL://127.0.0.1:9093), repeatable; adds to --listeners."
SUPER_USER_HELP = "A super user (User:NAME), repeatable; adds to --super-users."
#: repeatable flags that add one item to a list setting: flag -> (setting, metavar, help)
REPEATABLE = {"--listener": ("listeners", "NAME://HOST:PORT", LISTENER_HELP),
              "--super-user": ("super_users", "User:NAME", SUPER_USER_HELP)}
SERVE_HELP = ("Start a broker. Every setting is a flag, an environment variable and a TOML key; "
              "precedence: flags > environment > --config file > defaults. Prints "
              "'kafkaish ready on HOST:PORT' once it accepts connections; Ctrl-C or SIGTERM stops it.")


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class FlagSpec:
    """One setting as a flag: ``kind`` is bool, int, float, str, choice or json."""

    name: str
    flag: str
    kind: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()


def _default_text(default: Any) -> str:
    if default is None or default == {} or default == []:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def flag_specs() -> list[FlagSpec]:
    specs = []
    for name, (kind, _, default, _, _, _, choices, description) in FIELDS.items():
        text = (description or name.replace("_", " ")).rstrip(".")
        if kind in ("bool", "choice"):
            spec = FlagSpec(name, flag_name(name), kind, "", choices=choices)
        elif kind == "int":
            spec = FlagSpec(name, flag_name(name), kind, "", metavar="INT")
        elif kind in ("str", "path"):
            spec = FlagSpec(name, flag_name(name), "str", "", metavar="DIR" if kind == "path" else "TEXT")
        else:  # dicts, lists: JSON, as in the environment variable
            spec = FlagSpec(name, flag_name(name), "json", "", metavar="JSON")
            text += " (JSON)"
        specs.append(FlagSpec(spec.name, spec.flag, spec.kind,
                              f"{text}. [env {env_var(name)}; default {_default_text(default)}]",
                              spec.metavar, spec.choices))
    return specs


def parse_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError(f"expected JSON, got {value!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"kafkaish serve: {message}\nTry 'kafkaish serve --help' for help.\n")


def argparse_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kafkaish serve", description=SERVE_HELP)
    parser.add_argument("--config", dest="config_file", metavar="FILE", help=CONFIG_HELP)
    for spec in flag_specs():
        if spec.kind == "bool":
            parser.add_argument(spec.flag, dest=spec.name, action=argparse.BooleanOptionalAction, default=None,
                                help=spec.help)
            continue
        convert: Any = {"int": int, "float": float, "json": parse_json}.get(spec.kind)
        parser.add_argument(spec.flag, dest=spec.name, type=convert, choices=spec.choices or None,
                            metavar=spec.metavar, help=spec.help)
        if spec.name == "sasl_users":
            parser.add_argument("--sasl-user", dest="sasl_user", action="append", default=[],
                                metavar="USER:PASSWORD", help=SASL_USER_HELP)
        for flag, (setting, metavar, text) in REPEATABLE.items():
            if spec.name == setting:
                parser.add_argument(flag, dest=repeat_dest(flag), action="append", default=[], metavar=metavar,
                                    help=text)
    return parser


def repeat_dest(flag: str) -> str:
    return flag[2:].replace("-", "_") + "_items"


def serve_main(argv: list[str]) -> int:
    """``kafkaish serve ARGS`` without click (the fast path ``kafkaish.cli.main`` takes)."""
    args = vars(argparse_parser().parse_args(argv))
    return run_serve(**args)


def run_serve(config_file: str | None, **flags: Any) -> int:
    users = flags.pop("sasl_user", ()) or ()
    items = {flag: flags.pop(repeat_dest(flag), ()) or () for flag in REPEATABLE}
    overrides = {k: v for k, v in flags.items() if v is not None}
    for flag, values in items.items():
        if values:
            setting = REPEATABLE[flag][0]
            overrides[setting] = [*overrides.get(setting, []), *values]
    if users:
        if any(":" not in u for u in users):
            print("kafkaish: --sasl-user takes USER:PASSWORD", file=sys.stderr)
            return 2
        overrides["sasl_users"] = {**overrides.get("sasl_users", {}), **dict(u.split(":", 1) for u in users)}
    try:
        settings = load_quick(config_file, **overrides)
    except SettingsError as e:
        print(f"kafkaish: {e}", file=sys.stderr)
        return 2
    import asyncio
    import gc
    import logging
    import signal

    from kafkaish.logs import setup as setup_logging

    setup_logging(settings.log_level, settings.log_format)
    from kafkaish.broker import Broker
    from kafkaish.server import serve as serve_forever

    try:
        broker = Broker(settings)
    except (OSError, RuntimeError) as e:  # data dir in use, unreadable, ...
        print(f"kafkaish: cannot open storage: {e}", file=sys.stderr)
        return 1

    if any(spec.uses_ssl for spec in broker.listener_specs):
        from kafkaish.tls import server_context

        try:
            server_context(settings)
        except (OSError, ValueError) as e:  # missing file, not PEM, key does not match the certificate
            broker.close()
            print(f"kafkaish: cannot load ssl_cert/ssl_key/ssl_ca: {e}", file=sys.stderr)
            return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(host: str, port: int, server: Any) -> None:
            if len(server.listeners) > 1 or server.listeners[0].spec.protocol != "PLAINTEXT":
                for listener in server.listeners:  # before the ready line, which tells that all are up
                    print(f"kafkaish listener {listener.spec.url(listener.port)}", flush=True)
            if broker.admin_url:
                print(f"kafkaish admin on {broker.admin_url}", flush=True)
            if settings.brokers > 1:  # the simulated cluster's other listeners
                for node, member in sorted(broker.shared.brokers.items()):
                    for server in member.listeners:
                        print(f"kafkaish broker {node} on {server.host}:{server.port}", flush=True)
            print(f"kafkaish ready on {host}:{port}", flush=True)
            # What start-up built lives as long as the process: out of the garbage collector's way,
            # so full collections (pauses of 10-30 ms, issue #15) scan only what serving creates.
            gc.freeze()

        await serve_forever(broker, ready, stop)

    try:
        run_loop(main(), settings.uvloop)
    except OSError as e:  # e.g. the port is taken
        broker.close()
        print(f"kafkaish: cannot listen on {settings.host}:{settings.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    logging.getLogger("kafkaish").info("stopped cleanly")
    return 0


def run_loop(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    """Run ``main`` on uvloop when it is installed and wanted, else on asyncio's default loop."""
    import asyncio
    import logging

    log = logging.getLogger("kafkaish")
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            uvloop = None
        if uvloop is not None and hasattr(uvloop, "run"):  # uvloop.run: 0.18+
            log.info("event loop: uvloop %s", uvloop.__version__)
            uvloop.run(main)
            return
    log.info("event loop: asyncio")
    asyncio.run(main)
