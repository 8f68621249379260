"""``kafkaish serve`` as a click command (its help and completion), rendered from the same
generated flag list as the parser it runs with (``kafkaish.cli.settings_flags``).
This module must not import rich: ``serve`` start time is the broker's."""

from __future__ import annotations

from typing import Any

import click

from kafkaish.cli.settings_flags import (
    CONFIG_HELP,
    REPEATABLE,
    SASL_USER_HELP,
    SERVE_HELP,
    FlagSpec,
    env_var,
    flag_name,
    flag_specs,
    parse_json,
    repeat_dest,
    run_serve,
)

__all__ = ["env_var", "flag_name", "serve"]


def _json(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_json(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def setting_option(spec: FlagSpec) -> click.Option:
    """The click option for one setting (no envvar: pydantic-settings reads the environment)."""
    if spec.kind == "bool":
        return click.Option([f"{spec.flag}/--no-{spec.flag[2:]}", spec.name], default=None, help=spec.help)
    if spec.kind == "choice":
        return click.Option([spec.flag, spec.name], type=click.Choice(spec.choices), default=None, help=spec.help)
    kind: Any = {"int": int, "float": float}.get(spec.kind)
    callback = _json if spec.kind == "json" else None
    return click.Option([spec.flag, spec.name], type=kind, default=None, metavar=spec.metavar, callback=callback,
                        help=spec.help)


def _params() -> list[click.Parameter]:
    params: list[click.Parameter] = [click.Option(["--config", "config_file"], metavar="FILE", default=None,
                                                  help=CONFIG_HELP)]
    for spec in flag_specs():
        params.append(setting_option(spec))
        if spec.name == "sasl_users":
            params.append(click.Option(["--sasl-user", "sasl_user"], multiple=True, metavar="USER:PASSWORD",
                                       help=SASL_USER_HELP))
        for flag, (setting, metavar, text) in REPEATABLE.items():
            if spec.name == setting:
                params.append(click.Option([flag, repeat_dest(flag)], multiple=True, metavar=metavar, help=text))
    return params


serve = click.Command("serve", callback=run_serve, params=_params(), help=SERVE_HELP,
                      context_settings={"max_content_width": 100})
