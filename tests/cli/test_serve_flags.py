"""``kafkaish serve`` flags come from the Settings model; the CLI package loads lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kafkaish.cli.serve import env_var, flag_name, serve
from kafkaish.cli.settings_flags import argparse_parser
from kafkaish.config import Settings


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkaish", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_serve_help_lists_every_setting_with_its_environment_variable() -> None:
    help_text = " ".join(run("serve", "--help").stdout.split())  # unwrap click's line breaks
    for name in Settings.model_fields:
        assert flag_name(name) in help_text, name
        assert f"env {env_var(name)};" in help_text.replace(" _", "_"), name


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_flag_reaches_load_settings(name: str) -> None:
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    samples = {bool: [flag_name(name)] if not default else [f"--no-{flag_name(name)[2:]}"]}
    kind = type(default) if default is not None else int if "port" in name else str
    if name == "fsync":
        args, expected = [flag_name(name), "never"], "never"
    elif isinstance(default, dict):
        args, expected = [flag_name(name), '{"u": "p"}'], {"u": "p"}
    elif isinstance(default, list):
        args, expected = [flag_name(name), '["PLAINTEXT://h:1"]'], ["PLAINTEXT://h:1"]
    elif name == "ssl_client_auth":
        args, expected = [flag_name(name), "required"], "required"
    elif name == "log_level":
        args, expected = [flag_name(name), "DEBUG"], "DEBUG"
    elif name == "log_format":
        args, expected = [flag_name(name), "json"], "json"
    elif kind is bool:
        args, expected = samples[bool], not default
    elif kind is int:
        args, expected = [flag_name(name), "4321"], 4321
    else:
        args, expected = [flag_name(name), "some-value"], "some-value"
    ctx = serve.make_context("serve", list(args))
    assert ctx.params[name] == expected
    # every other setting is left to the environment / file / default
    assert all(v in (None, ()) for k, v in ctx.params.items() if k != name)
    # the parser serve runs with (argparse, no click) reads the flags the same way
    parsed = vars(argparse_parser().parse_args(args))
    assert {k: v for k, v in parsed.items() if v not in (None, [])} == {name: expected}


def test_serve_flags_override_the_environment(server_process) -> None:
    env = {"KAFKAISH_DEFAULT_PARTITIONS": "2", "KAFKAISH_AUTO_CREATE_TOPICS": "false"}
    sp = server_process("--in-memory", "--default-partitions", "3", "--auto-create-topics", env=env)
    from kafkaish.cli.client import Cluster

    with Cluster(sp.bootstrap) as cluster:
        cluster.metadata(["auto-made"], auto_create=True)
        assert cluster.topic("auto-made").partitions == [0, 1, 2]  # both flags beat the environment


def test_serve_sasl_users_as_json_and_as_user_password(server_process) -> None:
    sp = server_process("--in-memory", "--sasl-users", json.dumps({"alice": "a-pw"}), "--sasl-user", "bob:b-pw")
    for user, password in (("alice", "a-pw"), ("bob", "b-pw")):
        done = run("topics", "list", "-b", sp.bootstrap, "--sasl-mechanism", "SCRAM-SHA-256",
                   "--sasl-username", user, "--sasl-password", password)
        assert done.returncode == 0, done.stderr
    bad = run("topics", "list", "-b", sp.bootstrap, "--sasl-mechanism", "PLAIN", "--sasl-username", "bob",
              "--sasl-password", "wrong")
    assert bad.returncode == 1 and "SASL authentication failed" in bad.stderr


def test_version_and_top_level_help() -> None:
    from kafkaish import __version__

    assert run("--version").stdout.strip() == f"kafkaish {__version__}"
    listed = run("--help").stdout
    from kafkaish.cli import COMMANDS

    for command in COMMANDS:
        assert f"  {command} " in listed


def test_client_commands_import_neither_the_broker_nor_pydantic_nor_rich_nor_ssl(broker) -> None:
    code = ("import sys\nfrom kafkaish.cli import main\n"
            f"status = main(['topics', 'list', '-b', '{broker.bootstrap}'])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'rich')"
            " or m in ('kafkaish.broker', 'kafkaish.config', 'kafkaish.server', 'ssl', 'kafkaish.cli.security'))\n"
            "print(status, heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_serve_imports_neither_click_nor_rich() -> None:
    code = ("import sys\nfrom kafkaish.cli import main\nstatus = main(['serve', '--port', '-3'])\n"
            "print(status, sorted({m.split('.')[0] for m in sys.modules} & {'click', 'rich'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr
    assert "invalid setting 'port'" in done.stderr


def test_serve_usage_errors_are_short() -> None:
    done = run("serve", "--no-such-flag")
    assert done.returncode == 2
    assert done.stderr == ("kafkaish serve: unrecognized arguments: --no-such-flag\n"
                           "Try 'kafkaish serve --help' for help.\n")


def test_shell_completion_completes_commands_and_subcommands() -> None:
    script = run("completion", "bash")
    assert script.returncode == 0 and "_KAFKAISH_COMPLETE=bash_complete" in script.stdout

    def complete(words: str) -> list[str]:
        env = {**__import__("os").environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
               "_KAFKAISH_COMPLETE": "bash_complete"}
        done = subprocess.run([sys.executable, "-m", "kafkaish"], capture_output=True, text=True, env=env, timeout=60)
        return [line.split(",", 1)[1] for line in done.stdout.splitlines()]

    assert complete("kafkaish top") == ["topics"]
    assert complete("kafkaish topics l") == ["list"]
    assert "--include-internal" in complete("kafkaish topics list --inc")
