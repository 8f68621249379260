"""The click application behind ``kafkaish``: a group whose subcommands load lazily."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from kafkaish.cli import COMMANDS


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr, _ = COMMANDS[cmd_name]
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        # Complete command names from the table, without importing every command module.
        from click.shell_completion import CompletionItem

        names = [CompletionItem(name, help=h) for name, (_, _, h) in COMMANDS.items() if name.startswith(incomplete)]
        return names + click.Command.shell_complete(self, ctx, incomplete)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from kafkaish import __version__

        click.echo(f"kafkaish {__version__}")
        ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Print the version and exit.")
def cli() -> None:
    """A Kafka-wire-compatible log server, and commands that work against any Kafka.

    Client commands take --bootstrap-server (default: $KAFKAISH_BOOTSTRAP, then localhost:9092).
    """


def run(argv: list[str]) -> int:
    """Run the click command line; the exit status (0 ok, 1 error, 2 usage error)."""
    from kafkaish.cli.client import CliError

    try:
        result: Any = cli.main(args=argv, prog_name="kafkaish", standalone_mode=False)
    except CliError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # consume | head: the reader left
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
