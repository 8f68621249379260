"""``kafkaish completion SHELL``: print the shell completion script (click's)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(kafkaish completion bash)"    (or add it to ~/.bashrc)
    zsh:   eval "$(kafkaish completion zsh)"     (or add it to ~/.zshrc)
    fish:  kafkaish completion fish > ~/.config/fish/completions/kafkaish.fish
    """
    from click.shell_completion import get_completion_class

    from kafkaish.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "kafkaish", "_KAFKAISH_COMPLETE").source())
