"""Options and output helpers shared by the client commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kafkaish.cli.client import SASL_MECHANISMS, SECURITY_PROTOCOLS, Cluster

if TYPE_CHECKING:
    from kafkaish.cli.security import Security

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_BOOTSTRAP = "localhost:9092"


SECURITY_OPTIONS = ("command_config", "property", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
                    "ssl_ca", "ssl_cert", "ssl_key", "ssl_key_password", "ssl_no_hostname_check", "ssl_no_verify")


def security_options(prefix: str = "", env: str = "KAFKAISH_", who: str = "") -> Callable[[F], F]:
    """--security-protocol, SASL, TLS and --command-config options, named ``--{prefix}...``.

    ``env``: the prefix of their environment variables (TLS ones add ``CLIENT_SSL_`` for the
    source cluster, so they never meet ``kafkaish serve``'s own KAFKAISH_SSL_CERT/KEY/CA).
    """
    dest = prefix.replace("-", "_")
    ssl_env = env + ("CLIENT_SSL_" if env == "KAFKAISH_" else "SSL_")

    def opt(name: str, env_name: str, help: str, **kw: Any) -> Any:
        return click.option(f"--{prefix}{name}", f"{dest}{name.replace('-', '_')}", envvar=env_name,
                            help=f"{who}{help} [env {env_name}].", **kw)

    options = [
        opt("command-config", env + "COMMAND_CONFIG", "Kafka client properties file: security.protocol, "
            "sasl.mechanism, sasl.jaas.config, ssl.truststore.location (PEM)...; options given here win",
            metavar="FILE", type=click.Path(dir_okay=False)),
        click.option(*((f"--{prefix}property",) + (() if prefix else ("-X",))), f"{dest}property", multiple=True,
                     metavar="KEY=VALUE", help=f"{who}A Kafka (or librdkafka) client property, repeatable, as kcat -X: "
                     "security.protocol, sasl.mechanism(s), sasl.username, sasl.password, ssl.ca.location...; "
                     "over --command-config, under the options."),
        opt("security-protocol", env + "SECURITY_PROTOCOL", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL "
            "(default: SASL_* with SASL options, *SSL with --ssl-* options)",
            type=click.Choice(SECURITY_PROTOCOLS, case_sensitive=False), metavar="|".join(SECURITY_PROTOCOLS)),
        opt("sasl-mechanism", env + "SASL_MECHANISM", "SASL mechanism (default PLAIN)",
            type=click.Choice(SASL_MECHANISMS, case_sensitive=False), metavar="|".join(SASL_MECHANISMS)),
        opt("sasl-username", env + "SASL_USERNAME", "SASL user"),
        opt("sasl-password", env + "SASL_PASSWORD", "SASL password (prefer the environment variable; "
            "asked for on a terminal when missing)", metavar="PASSWORD"),
        opt("ssl-ca", ssl_env + "CA", "PEM CA certificates to check the broker's certificate with "
            "(default: the system's)", metavar="FILE"),
        opt("ssl-cert", ssl_env + "CERT", "PEM client certificate, for brokers that check clients (mutual TLS)",
            metavar="FILE"),
        opt("ssl-key", ssl_env + "KEY", "PEM private key of --ssl-cert (default: in that file)", metavar="FILE"),
        opt("ssl-key-password", ssl_env + "KEY_PASSWORD", "Password of an encrypted --ssl-key", metavar="PASSWORD"),
        opt("ssl-no-hostname-check", ssl_env + "NO_HOSTNAME_CHECK", "Accept a broker certificate for another "
            "host name (ssl.endpoint.identification.algorithm='')", is_flag=True),
        opt("ssl-no-verify", ssl_env + "NO_VERIFY", "Do not check the broker's certificate at all (insecure)",
            is_flag=True),
    ]

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def connection_options(fn: F) -> F:
    """--bootstrap-server, security options and --timeout; the command gets a ``cluster`` argument."""
    fn = click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
                      help="Seconds to wait for a broker's answer (connecting waits at most 5).")(fn)
    fn = security_options()(fn)
    return click.option("--bootstrap-server", "-b", envvar="KAFKAISH_BOOTSTRAP", default=DEFAULT_BOOTSTRAP,
                        show_default=True, metavar="HOST:PORT[,...]",
                        help="Broker(s) to start from [env KAFKAISH_BOOTSTRAP].")(fn)


def security_from(kwargs: dict[str, Any], prefix: str = "") -> Security:
    """Pop the security options named ``{prefix}...`` out of ``kwargs`` and resolve them."""
    from kafkaish.cli.security import resolve

    def pop(name: str) -> Any:
        return kwargs.pop(prefix + name)

    return resolve(protocol=pop("security_protocol"), mechanism=pop("sasl_mechanism"),
                   username=pop("sasl_username"), password=pop("sasl_password"), ca=pop("ssl_ca"),
                   cert=pop("ssl_cert"), key=pop("ssl_key"), key_password=pop("ssl_key_password"),
                   no_verify=pop("ssl_no_verify"), no_hostname_check=pop("ssl_no_hostname_check"),
                   command_config=pop("command_config"), properties=pop("property"), flag="--" + prefix.replace("_", "-"))


def cluster_from(kwargs: dict[str, Any]) -> Cluster:
    """Pop the connection options out of ``kwargs`` and build a Cluster (not yet connected)."""
    if not any(kwargs[name] for name in SECURITY_OPTIONS):  # plaintext: kafkaish.cli.security is not even imported
        for name in SECURITY_OPTIONS:
            del kwargs[name]
        return Cluster(kwargs.pop("bootstrap_server"), None, kwargs.pop("timeout"))
    security = security_from(kwargs)
    return Cluster(kwargs.pop("bootstrap_server"), security.sasl, kwargs.pop("timeout"), security.tls)


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
