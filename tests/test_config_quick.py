"""``kafkaish serve`` reads settings without pydantic (``kafkaish.config_quick``) and gives the same
values as ``Settings`` (pydantic-settings) for what it accepts, and pydantic's own answer, errors
included, for everything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kafkaish.config import Settings, SettingsError, load_settings
from kafkaish.config_fields import FIELDS
from kafkaish.config_quick import QuickSettings, load_quick, quick_settings

ROOT = Path(__file__).resolve().parent.parent


def _values(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in FIELDS}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.upper().startswith("KAFKAISH_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_the_field_table_is_generated_from_settings() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_settings_fields.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


ACCEPTED: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    ({}, {"port": 0, "in_memory": True, "log_level": "WARNING"}),
    ({"KAFKAISH_PORT": "9093", "KAFKAISH_IN_MEMORY": "true", "KAFKAISH_LOG_LEVEL": "debug"}, {}),
    ({"KAFKAISH_AUTO_CREATE_TOPICS": "No", "KAFKAISH_METRICS": "0", "KAFKAISH_UVLOOP": "off"}, {"node_id": 3}),
    ({"KAFKAISH_PORT": "9093"}, {"port": 9094}),  # the flag wins
    ({"KAFKAISH_PORT": "not-a-port"}, {"port": 9094}),  # a flag hides a bad variable, as in pydantic
    ({"KAFKAISH_DATA_DIR": "/tmp/x", "KAFKAISH_FSYNC": "always", "KAFKAISH_CLUSTER_ID": "abc"}, {}),
    ({"KAFKAISH_SASL_USERS": '{"alice": "secret"}', "KAFKAISH_LISTENERS": '["PLAINTEXT://127.0.0.1:0"]'}, {}),
    ({}, {"listeners": ["PLAINTEXT://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0"], "super_users": ["User:a"],
          "advertised_port": 19092, "connections_max_idle_ms": -1, "admin_port": 0}),
    ({"KAFKAISH_BOGUS": "1"}, {}),  # not a setting: ignored by both
]


@pytest.mark.parametrize("env,flags", ACCEPTED)
def test_quick_settings_equal_pydantic_settings(clean_env: pytest.MonkeyPatch, env: dict[str, str],
                                               flags: dict[str, Any]) -> None:
    for key, value in env.items():
        clean_env.setenv(key, value)
    quick = quick_settings(None, flags, os.environ)
    assert isinstance(quick, QuickSettings)
    assert _values(quick) == _values(load_settings(**flags))
    assert quick.public_host == load_settings(**flags).public_host


REFUSED: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({"KAFKAISH_PORT": "70000"}, {}),
    ({}, {"port": 70000}),
    ({}, {"fsync": "sometimes"}),
    ({"KAFKAISH_PORT": "abc"}, {}),
    ({"KAFKAISH_LOG_LEVEL": "loud"}, {}),
    ({}, {"listeners": ["SSL://127.0.0.1:0"]}),  # SSL without ssl_cert/ssl_key
    ({}, {"advertised_listeners": ["OTHER://h:1"]}),
    ({"KAFKAISH_SASL_USERS": "{not json"}, {}),
    ({}, {"super_users": [1]}),
    ({}, {"cluster_id": ""}),
    ({"KAFKAISH_LISTENERS": "PLAINTEXT://h:1"}, {}),  # not JSON
    # valid in a lax form only pydantic knows: it decides
    ({"KAFKAISH_PORT": " 9093"}, {}),
    ({"KAFKAISH_PORT": "9_093"}, {}),
    ({"kafkaish_port": "9093"}, {}),
    ({"KAFKAISH_SSL_CERT": ""}, {}),
]


@pytest.mark.parametrize("env,flags", REFUSED)
def test_what_quick_settings_refuses_pydantic_decides(clean_env: pytest.MonkeyPatch, env: dict[str, str],
                                                      flags: dict[str, Any]) -> None:
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert quick_settings(None, flags, os.environ) is None
    try:
        expected: Any = _values(load_settings(**flags))
    except SettingsError as e:
        expected = str(e)
    try:
        got: Any = _values(load_quick(**flags))
    except SettingsError as e:
        got = str(e)
    assert got == expected


def test_a_config_file_goes_to_pydantic(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "k.toml"
    toml.write_text("port = 1111\n")
    assert quick_settings(toml, {}, os.environ) is None
    clean_env.setenv("KAFKAISH_CONFIG_FILE", str(toml))
    assert quick_settings(None, {}, os.environ) is None
    assert isinstance(load_quick(), Settings) and load_quick().port == 1111


def test_model_copy_changes_only_the_update() -> None:
    quick = quick_settings(None, {"port": 9000}, {})
    assert quick is not None
    copy = quick.model_copy(update={"node_id": 2, "port": 9001})
    assert (copy.node_id, copy.port, quick.node_id, quick.port) == (2, 9001, 1, 9000)
    assert _values(copy) == {**_values(quick), "node_id": 2, "port": 9001}


@pytest.mark.parametrize("args,env,message", [
    (["--port", "70000"], {}, "kafkaish: invalid setting 'port': Input should be less than or equal to 65535 "
                              "(got 70000)"),
    ([], {"KAFKAISH_PORT": "abc"}, "kafkaish: invalid setting 'port': Input should be a valid integer, unable to "
                                   "parse string as an integer (got 'abc')"),
    ([], {"KAFKAISH_LOG_LEVEL": "loud"}, "kafkaish: invalid setting 'log_level': Value error, must be one of DEBUG, "
                                         "INFO, WARNING, ERROR, CRITICAL (got 'loud')"),
    (["--listener", "SSL://127.0.0.1:0"], {}, "kafkaish: invalid setting 'settings': Value error, SSL and SASL_SSL "
                                              "listeners need ssl_cert and ssl_key (PEM files)"),
])
def test_serve_with_a_bad_setting_says_what_pydantic_says(args: list[str], env: dict[str, str], message: str) -> None:
    run_env = {k: v for k, v in os.environ.items() if not k.upper().startswith("KAFKAISH_")}
    proc = subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--in-memory", *args], capture_output=True,
                          text=True, timeout=60, env={**run_env, **env})
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(message), proc.stderr
