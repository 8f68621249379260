"""Settings precedence and validation, and the ``kafkaish serve`` process lifecycle."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from kafkaish.config import SettingsError, load_settings


def test_defaults_match_the_documented_ones(monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("KAFKAISH_"):
            monkeypatch.delenv(k)
    s = load_settings()
    assert (s.host, s.port, s.auto_create_topics, s.default_partitions) == ("127.0.0.1", 9092, True, 1)
    assert s.message_max_bytes == 1048588


def test_precedence_flags_over_env_over_toml(tmp_path, monkeypatch):
    toml = tmp_path / "k.toml"
    toml.write_text('port = 1111\ndefault_partitions = 4\nnode_id = 7\n')
    monkeypatch.setenv("KAFKAISH_PORT", "2222")
    monkeypatch.setenv("KAFKAISH_NODE_ID", "8")
    s = load_settings(toml, node_id=9)
    assert s.default_partitions == 4  # only in the file
    assert s.port == 2222  # env beats file
    assert s.node_id == 9  # flag beats env


@pytest.mark.parametrize("bad,name", [({"port": 70000}, "port"), ({"fsync": "sometimes"}, "fsync"),
                                      ({"default_partitions": 0}, "default_partitions")])
def test_validation_errors_name_the_setting(bad, name):
    with pytest.raises(SettingsError, match=name):
        load_settings(**bad)


def test_env_validation_error_names_the_setting(monkeypatch):
    monkeypatch.setenv("KAFKAISH_PORT", "not-a-port")
    with pytest.raises(SettingsError, match="port"):
        load_settings()


def test_serve_rejects_a_bad_flag_with_a_clear_message():
    proc = subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--port", "-3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "invalid setting 'port'" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_ready_line_and_stops_cleanly(server_process, sig):
    sp = server_process("--in-memory")
    host, port = sp.bootstrap.split(":")
    assert host == "127.0.0.1" and int(port) > 0  # the real port, not 0
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=sp.bootstrap)
    assert admin.describe_cluster()["controller_id"] == 1
    admin.close()
    assert sp.stop(sig) == 0


def test_serve_on_a_taken_port_says_so(server_process):
    sp = server_process("--in-memory")
    port = sp.bootstrap.split(":")[1]
    proc = subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--in-memory", "--port", port],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_second_server_on_the_same_data_dir_is_refused(server_process, tmp_path):
    server_process("--data-dir", str(tmp_path / "d"))
    proc = subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--port", "0", "--data-dir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "in use by another kafkaish process" in proc.stderr and "Traceback" not in proc.stderr
