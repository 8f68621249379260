"""Options and output helpers shared by the client commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from kafkaish.cli.client import SASL_MECHANISMS, CliError, Cluster, Sasl

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_BOOTSTRAP = "localhost:9092"


def sasl_from(mechanism: str | None, username: str | None, password: str | None, flag: str = "--sasl") -> Sasl | None:
    if mechanism is None and username is None:
        return None
    if not username or password is None:
        raise CliError(f"{flag}-username and {flag}-password are needed for SASL")
    return Sasl((mechanism or "PLAIN").upper(), username, password)


def connection_options(fn: F) -> F:
    """--bootstrap-server, SASL and --timeout; the command gets a ``cluster`` argument."""
    options = [
        click.option("--bootstrap-server", "-b", envvar="KAFKAISH_BOOTSTRAP", default=DEFAULT_BOOTSTRAP,
                     show_default=True, metavar="HOST:PORT[,...]",
                     help="Broker(s) to start from [env KAFKAISH_BOOTSTRAP]."),
        click.option("--sasl-mechanism", type=click.Choice(SASL_MECHANISMS, case_sensitive=False),
                     envvar="KAFKAISH_SASL_MECHANISM", help="Authenticate with SASL [env KAFKAISH_SASL_MECHANISM]."),
        click.option("--sasl-username", envvar="KAFKAISH_SASL_USERNAME", help="SASL user [env KAFKAISH_SASL_USERNAME]."),
        click.option("--sasl-password", envvar="KAFKAISH_SASL_PASSWORD",
                     help="SASL password [env KAFKAISH_SASL_PASSWORD]."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
                     help="Seconds to wait for a broker's answer (connecting waits at most 5)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def cluster_from(kwargs: dict[str, Any]) -> Cluster:
    """Pop the connection options out of ``kwargs`` and build a Cluster (not yet connected)."""
    sasl = sasl_from(kwargs.pop("sasl_mechanism"), kwargs.pop("sasl_username"), kwargs.pop("sasl_password"))
    return Cluster(kwargs.pop("bootstrap_server"), sasl, kwargs.pop("timeout"))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """An aligned table (rich on a terminal; plain aligned columns when piped)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, title=title, box=None, header_style="bold", pad_edge=False)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)
        return
    if title:
        click.echo(title)
    cells = [list(headers)] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def warn(text: str) -> None:
    click.echo(text, err=True)
