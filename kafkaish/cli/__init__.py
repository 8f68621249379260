"""``kafkaish``: the command line (click, in ``kafkaish.cli.app``).

Subcommands load lazily: ``kafkaish topics list`` imports only the topics module and the wire
codec, never the broker, pydantic or rich, so a client command starts fast; ``serve`` builds
its flags from the ``Settings`` model only when it runs, and runs without click. Command
modules raise ``CliError`` for anything the user should read as one line; ``main`` prints it
and exits with status 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# name -> (module, attribute, one-line help shown by ``kafkaish --help`` without importing it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("kafkaish.cli.serve", "serve", "Start a broker."),
    "topics": ("kafkaish.cli.topics", "topics", "List, describe, create, delete topics and change their configs."),
    "produce": ("kafkaish.cli.produce", "produce", "Write records from stdin or a file to a topic."),
    "consume": ("kafkaish.cli.consume", "consume", "Read records from any offset or timestamp."),
    "groups": ("kafkaish.cli.groups", "groups", "Consumer groups: list, describe, lag, reset or delete offsets."),
    "export": ("kafkaish.cli.transfer", "export", "Save a topic (or a range of it) to a JSON-lines file."),
    "import": ("kafkaish.cli.transfer", "import_", "Write an exported JSON-lines file into a topic."),
    "copy": ("kafkaish.cli.transfer", "copy", "Copy a topic (or a range) to another topic or cluster."),
    "certs": ("kafkaish.cli.certs", "certs", "Write a development CA, server and client certificates (PEM)."),
    "completion": ("kafkaish.cli.completion", "completion", "Print the shell completion script (bash, zsh, fish)."),
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (0 ok, 1 error, 2 usage error).

    ``kafkaish serve`` runs without click (the same generated flags, parsed by argparse) so
    that the broker's start time carries no command-line library; its ``--help`` and shell
    completion go through click like every other command.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["serve"] and not {"-h", "--help"} & set(args) and "_KAFKAISH_COMPLETE" not in os.environ:
        from kafkaish.cli.settings_flags import serve_main

        return serve_main(args[1:])
    from kafkaish.cli.app import run

    return run(args)


def __getattr__(name: str) -> Any:
    if name in ("cli", "LazyGroup"):  # the click application, imported when asked for
        from kafkaish.cli import app

        return getattr(app, name)
    raise AttributeError(name)
