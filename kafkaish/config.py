"""Broker settings: CLI flags > ``KAFKAISH_*`` environment variables > TOML file > defaults.

Names follow Kafka's broker configs where one exists (``message_max_bytes`` is
``message.max.bytes``); ``SETTINGS_TO_KAFKA`` is the one table of those names, read by the
config manager (DescribeConfigs) and by ``component_config`` to build the coordinators'
configs. A bad value raises ``SettingsError`` naming the setting.

``kafkaish serve`` reads the usual inputs without this module (``kafkaish.config_quick``, from
the generated field table ``kafkaish.config_fields``: run scripts/generate_settings_fields.py
after changing a field) and comes here for everything else, so pydantic is not part of its start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from pydantic_settings import SettingsError as SourceError

from kafkaish.config_quick import (
    SETTINGS_TO_KAFKA,
    SettingsError,
    check_listeners,
    check_log_level,
    component_config,
    kafka_values,
    public_host,
)

__all__ = ["SETTINGS_TO_KAFKA", "Settings", "SettingsError", "component_config", "kafka_values", "load_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKAISH_", extra="forbid", validate_default=True)

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(9092, ge=0, le=65535, description="port to listen on; 0 picks a free port")
    advertised_host: str | None = Field(None, description="host clients are told to connect to (default: host)")
    advertised_port: int | None = Field(None, ge=1, le=65535, description="port clients are told (default: the bound port)")
    data_dir: Path = Field(Path("kafkaish-data"), description="directory of the file storage engine")
    in_memory: bool = Field(False, description="keep everything in memory (nothing survives a restart)")
    fsync: Literal["always", "interval", "never"] = Field(
        "interval", description="when appended data is fsynced: always (before acks), interval, never")
    fsync_interval_ms: int = Field(1000, ge=1, description="fsync period for fsync=interval")
    auto_create_topics: bool = Field(True, description="auto.create.topics.enable")
    default_partitions: int = Field(1, ge=1, description="num.partitions for auto-created/default topics")
    node_id: int = Field(1, ge=0, description="this broker's node.id (with --brokers N: the first of N)")
    brokers: int = Field(1, ge=1, le=64, description="simulated cluster: N brokers (node ids node_id..node_id+N-1), "
                                                   "each on its own port from --port, over one storage")
    cluster_id: str | None = Field(
        None, min_length=1, description="cluster id for a new data dir (kept in meta.properties, as Kafka does)")
    message_max_bytes: int = Field(1048588, ge=1, description="message.max.bytes: largest record batch accepted")
    fetch_max_bytes: int = Field(
        57671680, ge=1024, description="fetch.max.bytes: most bytes one Fetch response carries (plus one batch)")
    socket_request_max_bytes: int = Field(104857600, ge=1024, description="largest request frame accepted")
    # Kafka's default is -1 (unbounded, only queued.max.requests); 256 MiB keeps clients that
    # send huge frames slowly from growing the broker without limit (kafkaish.server_limits).
    queued_max_request_bytes: int = Field(
        268435456, ge=-1, description="queued.max.request.bytes: bytes buffered for unhandled requests, all "
                                      "connections (-1: unbounded; Kafka: -1)")
    sasl_server_max_receive_size: int = Field(
        524288, ge=1024, description="sasl.server.max.receive.size: largest frame during a SASL exchange")
    connections_max_reauth_ms: int = Field(
        0, ge=0, description="connections.max.reauth.ms: SASL sessions last this long, then the client must "
                             "re-authenticate (KIP-368; 0: forever)")
    connections_max_idle_ms: int = Field(
        600000, ge=-1, description="connections.max.idle.ms: close connections idle this long (-1: never)")
    max_connections: int = Field(2147483647, ge=1, description="max.connections: the acceptor waits above it")
    max_connections_per_ip: int = Field(
        2147483647, ge=1, description="max.connections.per.ip: more from one address are closed at once")
    # Kafka's 3000 ms is what CI users turn off; at 0 members started together split into two
    # rebalances (the second found only at the next heartbeat). 100 ms was fastest measured
    # (scripts/bench_groups.py, docs/GROUPS.md).
    group_initial_rebalance_delay_ms: int = Field(
        100, ge=0, description="group.initial.rebalance.delay.ms (Kafka: 3000)")
    group_min_session_timeout_ms: int = Field(6000, ge=1, description="group.min.session.timeout.ms")
    group_max_session_timeout_ms: int = Field(1800000, ge=1, description="group.max.session.timeout.ms")
    # KIP-848 members learn of assignment changes only at their next heartbeat, at the
    # interval the server dictates: Kafka's 5000 ms makes every rebalance take ~5 s;
    # 500 ms measured 0.52 s join / 0.50 s leave for 3 members (scripts/bench_groups.py).
    group_consumer_heartbeat_interval_ms: int = Field(
        500, ge=1, description="group.consumer.heartbeat.interval.ms (KIP-848 groups; Kafka: 5000)")
    group_consumer_session_timeout_ms: int = Field(
        45000, ge=1, description="group.consumer.session.timeout.ms (KIP-848 groups)")
    offsets_retention_minutes: int = Field(10080, ge=1, description="offsets.retention.minutes")
    offset_metadata_max_bytes: int = Field(4096, ge=0, description="offset.metadata.max.bytes")
    transaction_max_timeout_ms: int = Field(900000, ge=1, description="transaction.max.timeout.ms")
    log_retention_ms: int = Field(604800000, ge=-1, description="log.retention.ms default for topics")
    log_retention_check_interval_ms: int = Field(
        300000, ge=1, description="log.retention.check.interval.ms: how often retention deletes old segments")
    log_initial_task_delay_ms: int = Field(
        30000, ge=0, description="log.initial.task.delay.ms: delay of the first retention check after start")
    log_segment_bytes: int = Field(1073741824, ge=14, description="log.segment.bytes default for topics")
    sasl_users: dict[str, str] = Field(
        default_factory=dict, description="SASL PLAIN/SCRAM users (name -> password); empty: PLAIN accepts anyone")
    listeners: list[str] = Field(
        default_factory=list, description="listeners: NAME://HOST:PORT, NAME one of PLAINTEXT, SSL, SASL_PLAINTEXT, "
                                          "SASL_SSL or a name in listener_security_protocol_map (repeat --listener); "
                                          "empty: PLAINTEXT://host:port")
    advertised_listeners: list[str] = Field(
        default_factory=list, description="advertised.listeners: NAME://HOST:PORT told to clients that connect "
                                          "through listener NAME (default: its bound address)")
    listener_security_protocol_map: dict[str, str] = Field(
        default_factory=dict, description="listener.security.protocol.map: listener name -> security protocol")
    ssl_cert: str | None = Field(None, description="PEM certificate (chain) of SSL and SASL_SSL listeners")
    ssl_key: str | None = Field(None, description="PEM private key of --ssl-cert")
    ssl_ca: str | None = Field(None, description="PEM CA certificates that client certificates are checked against")
    ssl_client_auth: Literal["required", "requested", "none"] = Field(
        "none", description="ssl.client.auth: whether SSL listeners ask clients for a certificate")
    authorizer: bool = Field(False, description="authorize every request against ACLs (Kafka's StandardAuthorizer); "
                                                "off: the ACL APIs answer SECURITY_DISABLED")
    super_users: list[str] = Field(
        default_factory=list, description="super.users: principals (User:NAME) allowed everything (repeat --super-user)")
    allow_everyone_if_no_acl_found: bool = Field(
        False, description="allow.everyone.if.no.acl.found: with the authorizer on, allow what no ACL names")
    log_level: str = Field("INFO", description="logging level (DEBUG logs one line per request)")
    log_format: Literal["text", "json"] = Field("text", description="log lines on stderr: text, or json (one object per line)")
    metrics: bool = Field(True, description="count requests and traffic for the admin port's /metrics")
    uvloop: bool = Field(True, description="run on uvloop when it is installed (pip install 'kafkaish[uvloop]'); "
                                           "off: asyncio's default loop")
    admin_port: int | None = Field(
        None, ge=0, le=65535, description="port of the admin HTTP control plane, on the listener's host (off by default; 0 picks a free port)")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        return check_log_level(v)

    @model_validator(mode="after")
    def _listeners(self) -> Settings:
        check_listeners(self)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = os.environ.get("KAFKAISH_CONFIG_FILE")
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml)))
        return tuple(sources)

    @property
    def public_host(self) -> str:
        return public_host(self)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings; raise SettingsError naming the first bad setting."""
    prev = os.environ.get("KAFKAISH_CONFIG_FILE")
    try:
        if config_file is not None:
            if not Path(config_file).is_file():
                raise SettingsError(f"config file {config_file} does not exist")
            os.environ["KAFKAISH_CONFIG_FILE"] = str(config_file)
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ImportError as e:  # Python 3.10 without tomli
        raise SettingsError(f"reading {config_file} needs a TOML parser: pip install 'pydantic-settings[toml]' "
                            f"({e})") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "settings"
        raise SettingsError(f"invalid setting {where!r}: {first['msg']} (got {first.get('input')!r})") from None
    except SourceError as e:  # a KAFKAISH_* variable of a dict/list setting that is not JSON
        raise SettingsError(f"{e} ({e.__cause__})" if e.__cause__ else str(e)) from None
    except ValueError as e:  # tomllib/tomli.TOMLDecodeError: "Invalid value (at line 1, column 8)"
        if config_file is None or type(e).__name__ != "TOMLDecodeError":
            raise
        raise SettingsError(f"config file {config_file} is not valid TOML: {e}") from None
    finally:
        if config_file is not None:
            if prev is None:
                os.environ.pop("KAFKAISH_CONFIG_FILE", None)
            else:
                os.environ["KAFKAISH_CONFIG_FILE"] = prev

