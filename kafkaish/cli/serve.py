"""``kafkaish serve``: start a broker. Its flags are generated from ``Settings``.

Every field of ``kafkaish.config.Settings`` becomes ``--field-name`` (booleans also get
``--no-field-name``); the help names the ``KAFKAISH_*`` variable and the default, so a new
setting needs no CLI change. Flags are passed to ``load_settings`` as overrides, which keeps
the precedence flags > environment > TOML file > defaults in one place (pydantic-settings).
This module must not import rich: ``serve`` start time is the broker's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

import click
from pydantic.fields import FieldInfo

from kafkaish.config import Settings, SettingsError, load_settings

ENV_PREFIX = "KAFKAISH_"


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _default_text(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    if default is None or default == {} or default == []:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def _help(name: str, field: FieldInfo, extra: str = "") -> str:
    text = (field.description or name.replace("_", " ")).rstrip(".")
    return f"{text}{extra}. [env {env_var(name)}; default {_default_text(field)}]"


def _json_value(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise click.BadParameter(f"expected JSON, got {value!r}") from None


def setting_option(name: str, field: FieldInfo) -> click.Option:
    """The click option for one setting (no envvar: pydantic-settings reads the environment)."""
    kind = _strip_optional(field.annotation)
    flag = flag_name(name)
    if kind is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=_help(name, field))
    if typing.get_origin(kind) is Literal:
        choices = [str(c) for c in typing.get_args(kind)]
        return click.Option([flag, name], type=click.Choice(choices), default=None, help=_help(name, field))
    if kind is int:
        return click.Option([flag, name], type=int, default=None, metavar="INT", help=_help(name, field))
    if kind is float:
        return click.Option([flag, name], type=float, default=None, metavar="FLOAT", help=_help(name, field))
    if kind in (str, Path):
        metavar = "DIR" if kind is Path else "TEXT"
        return click.Option([flag, name], default=None, metavar=metavar, help=_help(name, field))
    # dicts, lists, anything else: the value is JSON, as in the environment variable
    return click.Option([flag, name], default=None, metavar="JSON", callback=lambda _c, _p, v: _json_value(v),
                        help=_help(name, field, " (JSON)"))


def _params() -> list[click.Parameter]:
    params: list[click.Parameter] = [click.Option(
        ["--config", "config_file"], metavar="FILE", default=None,
        help="TOML file of settings, keys as the flags with underscores (port = 9093). [env KAFKAISH_CONFIG_FILE]")]
    for name, field in Settings.model_fields.items():
        params.append(setting_option(name, field))
        if name == "sasl_users":  # the readable form of the same setting
            params.append(click.Option(["--sasl-user", "sasl_user"], multiple=True, metavar="USER:PASSWORD",
                                       help="A SASL PLAIN/SCRAM user, repeatable; adds to --sasl-users."))
    return params


def run_serve(config_file: str | None, **flags: Any) -> int:
    users = flags.pop("sasl_user", ())
    overrides = {k: v for k, v in flags.items() if v is not None}
    if users:
        if any(":" not in u for u in users):
            click.echo("kafkaish: --sasl-user takes USER:PASSWORD", err=True)
            return 2
        overrides["sasl_users"] = {**overrides.get("sasl_users", {}), **dict(u.split(":", 1) for u in users)}
    try:
        settings = load_settings(config_file, **overrides)
    except SettingsError as e:
        click.echo(f"kafkaish: {e}", err=True)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kafkaish.broker import Broker
    from kafkaish.server import serve as serve_forever

    try:
        broker = Broker(settings)
    except (OSError, RuntimeError) as e:  # data dir in use, unreadable, ...
        click.echo(f"kafkaish: cannot open storage: {e}", err=True)
        return 1

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(host: str, port: int) -> None:
            print(f"kafkaish ready on {host}:{port}", flush=True)

        await serve_forever(broker, ready, stop)

    try:
        asyncio.run(main())
    except OSError as e:  # e.g. the port is taken
        broker.close()
        click.echo(f"kafkaish: cannot listen on {settings.host}:{settings.port}: {e.strerror or e}", err=True)
        return 1
    logging.getLogger("kafkaish").info("stopped cleanly")
    return 0


serve = click.Command(
    "serve", callback=run_serve, params=_params(),
    help="Start a broker. Every setting is a flag, an environment variable and a TOML key; "
         "precedence: flags > environment > --config file > defaults. Prints "
         "'kafkaish ready on HOST:PORT' once it accepts connections; Ctrl-C or SIGTERM stops it.",
    context_settings={"max_content_width": 100})

if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve.main(standalone_mode=True))
