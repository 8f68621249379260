"""Bad or careless clients (issue #16): each test is named after the defect it pins down.

The broker runs as a subprocess so its file descriptors and memory can be read from /proc.
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.create_partitions import CreatePartitionsRequest
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.delete_topics import DeleteTopicsRequest
from kafkaish.wire.messages.fetch import FetchRequest
from kafkaish.wire.messages.join_group import JoinGroupRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.e2e.test_fetch_semantics import Conn

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc")


class Raw(Conn):
    """A raw-frame client (ClientCodec over a socket)."""

    def closed_by_server(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1 << 16) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self) -> None:
        self.sock.close()


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid: int) -> int:
    """The fd count once closed connections have been let go of."""
    last = fds(pid)
    for _ in range(50):
        time.sleep(0.1)
        now = fds(pid)
        if now == last:
            return now
        last = now
    return last


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_until(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def long_poll(topic: str) -> FetchRequest:
    return FetchRequest(
        replica_id=-1, max_wait_ms=600_000, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
        session_id=0, session_epoch=-1,
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
            partition=0, fetch_offset=0, partition_max_bytes=1 << 20, current_leader_epoch=-1,
            log_start_offset=-1)])])


def assert_serving(bootstrap: str) -> None:
    c = Raw(bootstrap)
    try:
        assert c.call(ApiVersionsRequest(), 0).error_code == 0
    finally:
        c.close()


def test_parked_fetch_released_on_disconnect(server_process):
    srv = server_process("--in-memory")
    admin = Raw(srv.bootstrap)
    admin.call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="parked")]), 9)
    baseline = settled_fds(srv.proc.pid)
    pollers = [Raw(srv.bootstrap) for _ in range(20)]
    for p in pollers:
        p.send(long_poll("parked"), 11)  # parks up to ten minutes
    assert wait_until(lambda: fds(srv.proc.pid) >= baseline + 20, 5)
    time.sleep(0.2)
    for p in pollers:
        p.close()
    # the disconnect cancels the parked Fetch: its socket is closed at once, not in 10 min
    assert wait_until(lambda: fds(srv.proc.pid) <= baseline, 1.0), (fds(srv.proc.pid), baseline)
    assert admin.call(ApiVersionsRequest(), 0).error_code == 0


def test_parked_fetch_with_read_ahead_released_on_disconnect(server_process):
    """A connection that stopped being read (its client pipelined a lot behind a parked Fetch)
    still notices its client leaving."""
    srv = server_process("--in-memory")
    admin = Raw(srv.bootstrap)
    admin.call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="parked")]), 9)
    baseline = settled_fds(srv.proc.pid)
    c = Raw(srv.bootstrap)
    c.send(long_poll("parked"), 11)
    c.send(ApiVersionsRequest(client_software_name="x" * 120_000, client_software_version="1"), 3)
    time.sleep(0.3)
    c.close()
    assert wait_until(lambda: fds(srv.proc.pid) <= baseline, 1.5), (fds(srv.proc.pid), baseline)


def test_slow_reader_leaving_during_sendfile_keeps_its_socket(server_process, tmp_path):
    """A client that stops reading a big file-engine fetch (sent with sendfile, which stops
    reading the socket) and then leaves has its socket closed at once."""
    srv = server_process("--data-dir", str(tmp_path / "data"))
    admin = Raw(srv.bootstrap)
    assert admin.call(_create([("big", 1)]), 7).topics[0].error_code == 0
    for _ in range(8):
        _produce_everywhere(admin, "big", 1, b"x" * 1_000_000)
    fetch = long_poll("big")
    fetch.max_wait_ms, fetch.max_bytes = 0, 16 << 20
    fetch.topics[0].partitions[0].partition_max_bytes = 16 << 20
    admin.call(fetch, 11)  # opens what a fetch of it opens
    baseline = settled_fds(srv.proc.pid)
    readers = []
    for _ in range(5):
        r = Raw(srv.bootstrap)
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        r.send(fetch, 11)
        r.sock.recv(100)  # the answer started...
        readers.append(r)
    time.sleep(0.5)
    for r in readers:
        r.close()  # ...and the reader leaves with most of it unread
    assert wait_until(lambda: fds(srv.proc.pid) <= baseline, 1.5), (fds(srv.proc.pid), baseline)
    assert admin.call(ApiVersionsRequest(), 0).error_code == 0


def test_parked_join_group_released_on_disconnect(server_process):
    srv = server_process("--in-memory", env={"KAFKAISH_GROUP_INITIAL_REBALANCE_DELAY_MS": "600000"})
    assert_serving(srv.bootstrap)
    baseline = settled_fds(srv.proc.pid)
    c = Raw(srv.bootstrap)
    c.send(JoinGroupRequest(group_id="g-parked", session_timeout_ms=30_000, rebalance_timeout_ms=300_000,
                            member_id="", protocol_type="consumer", protocols=[
                                JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]), 1)
    assert not c.closed_by_server(0.3)  # parked: the initial rebalance delay is ten minutes
    assert fds(srv.proc.pid) == baseline + 1
    c.close()
    assert wait_until(lambda: fds(srv.proc.pid) <= baseline, 1.0), (fds(srv.proc.pid), baseline)


def test_idle_connection_closed_after_connections_max_idle_ms(server_process):
    srv = server_process("--in-memory", env={"KAFKAISH_CONNECTIONS_MAX_IDLE_MS": "300"})
    c = Raw(srv.bootstrap)
    assert c.call(ApiVersionsRequest(), 0).error_code == 0
    t0 = time.monotonic()
    assert c.closed_by_server(5)
    assert 0.25 <= time.monotonic() - t0 < 2
    # a half-open client (sent half a frame, then vanished) is closed the same way
    h = Raw(srv.bootstrap)
    h.sock.sendall(struct.pack(">i", 100) + b"\x00\x12")
    assert h.closed_by_server(5)


def test_accept_backs_off_quietly_when_out_of_fds(tmp_path):
    log_path = tmp_path / "server.log"
    limit = 64

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kafkaish", "serve", "--in-memory", "--port", "0"],
                                stdout=log, stderr=subprocess.STDOUT, preexec_fn=low_fd_limit)
    try:
        assert wait_until(lambda: "ready on" in log_path.read_text(), 30), log_path.read_text()
        port = int(log_path.read_text().split("ready on ")[1].split()[0].rsplit(":", 1)[1])
        bootstrap = f"127.0.0.1:{port}"
        clients = []
        for _ in range(limit + 20):  # more than the process can hold: accept() hits EMFILE
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(1.5)
        for s in clients:
            s.close()
        # fds come back and the acceptor picks up new clients again
        assert wait_until(lambda: fds(proc.pid) < 30, 3)
        assert_serving(bootstrap)
        text = log_path.read_text()
        assert "Traceback" not in text and "out of system resource" not in text, text[-3000:]
        assert 1 <= text.count("cannot accept connections") <= 5, text[-3000:]
    finally:
        proc.terminate()
        proc.wait(30)


def test_max_connections_per_ip_closes_the_extra_connection(server_process):
    srv = server_process("--in-memory", env={"KAFKAISH_MAX_CONNECTIONS_PER_IP": "3"})
    held = [Raw(srv.bootstrap) for _ in range(3)]
    for c in held:
        assert c.call(ApiVersionsRequest(), 0).error_code == 0
    extra = Raw(srv.bootstrap)
    assert extra.closed_by_server(5)
    held.pop().close()
    assert wait_until(lambda: _serves(srv.bootstrap), 3)
    for c in held:
        c.close()


def _serves(bootstrap: str) -> bool:
    try:
        assert_serving(bootstrap)
        return True
    except (AssertionError, OSError):
        return False


def test_max_connections_waits_for_a_free_slot(server_process):
    srv = server_process("--in-memory", env={"KAFKAISH_MAX_CONNECTIONS": "2"})
    held = [Raw(srv.bootstrap) for _ in range(2)]
    for c in held:
        assert c.call(ApiVersionsRequest(), 0).error_code == 0
    waiting = Raw(srv.bootstrap, timeout=0.5)  # queued in the backlog, not served
    waiting.send(ApiVersionsRequest(), 0)
    with pytest.raises(socket.timeout):
        waiting.recv()
    held.pop().close()
    waiting.sock.settimeout(5)
    assert waiting.recv().error_code == 0
    for c in [*held, waiting]:
        c.close()


def _send_slowly(bootstrap: str, frame_size: int, total: int, stop: threading.Event) -> None:
    host, port = bootstrap.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(struct.pack(">i", frame_size))
            chunk = b"\x00" * (1 << 20)
            sent = 0
            while sent < total and not stop.is_set():
                sent += s.send(chunk)
            stop.wait(10)
    except OSError:
        pass


def test_incomplete_frames_held_memory_without_bound(server_process):
    """Frames never completed are bounded by queued.max.request.bytes, not held whole."""
    srv = server_process("--in-memory", env={"KAFKAISH_QUEUED_MAX_REQUEST_BYTES": str(16 << 20)})
    assert_serving(srv.bootstrap)
    before = rss_mb(srv.proc.pid)
    stop = threading.Event()
    senders = [threading.Thread(target=_send_slowly, args=(srv.bootstrap, 90 << 20, 40 << 20, stop))
               for _ in range(5)]
    for t in senders:
        t.start()
    try:
        time.sleep(2.0)
        grown = rss_mb(srv.proc.pid) - before
        # 5 x 40 MiB offered; the broker takes the pool's 16 MiB plus one client's 40 MiB at most
        assert grown < 90, f"RSS grew {grown:.0f} MB"
        assert_serving(srv.bootstrap)  # small requests of other clients still go through
    finally:
        stop.set()
        for t in senders:
            t.join(15)


def test_sasl_pre_auth_frame_over_sasl_server_max_receive_size_closes(server_process):
    srv = server_process("--in-memory", "--sasl-user", "alice:secret")
    c = Raw(srv.bootstrap)
    assert c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    huge = b"n,,n=alice,r=" + b"x" * (1 << 20)  # a 1 MiB client-first: Kafka's limit is 512 KiB
    c.send(SaslAuthenticateRequest(auth_bytes=huge), 1)
    assert c.closed_by_server(5)
    # a normal exchange is still fine
    d = Raw(srv.bootstrap)
    assert d.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert d.call(SaslAuthenticateRequest(auth_bytes=b"\x00alice\x00secret"), 1).error_code == 0
    assert d.call(ApiVersionsRequest(), 0).error_code == 0


def _create(name_parts: list[tuple[str, int]], validate_only: bool = False) -> CreateTopicsRequest:
    return CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=n, num_partitions=p, replication_factor=1, assignments=[], configs=[]) for n, p in name_parts],
        timeout_ms=60_000, validate_only=validate_only)


def test_create_topics_over_10000_partitions_refused_with_policy_violation(broker):
    c = Raw(broker.bootstrap)
    huge = c.call(_create([("huge", 100_000)]), 7).topics
    assert [(t.name, t.error_code, t.error_message) for t in huge] == [
        ("huge", 44, "Unable to perform excessively large batch operation.")]
    # Kafka counts metadata records: one per topic and per partition, 10,000 at most
    over = c.call(_create([("a", 5000), ("b", 4999)], validate_only=True), 7).topics
    assert {t.error_code for t in over} == {44}
    fits = c.call(_create([("a", 5000), ("b", 4998)], validate_only=True), 7).topics
    assert {t.error_code for t in fits} == {0}
    assert "huge" not in broker.broker.storage.topics()
    one = c.call(_create([("ten-thousand", 9999)]), 7).topics[0]  # the largest single topic accepted
    assert one.error_code == 0 and broker.broker.storage.topics()["ten-thousand"].num_partitions == 9999
    grow = c.call(CreatePartitionsRequest(topics=[CreatePartitionsRequest.CreatePartitionsTopic(
        name="ten-thousand", count=30_000, assignments=None)], timeout_ms=60_000, validate_only=False), 3)
    assert grow.results[0].error_code == 44
    c.close()


class Bystander(threading.Thread):
    """Sends ApiVersions back to back and records when each answer arrived."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.client = Raw(bootstrap, timeout=60)
        self.answered: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.client.call(ApiVersionsRequest(), 0)
            self.answered.append(time.monotonic())

    def answers_between(self, t0: float, t1: float) -> int:
        return sum(1 for t in self.answered if t0 < t < t1)

    def finish(self) -> None:
        self.stop.set()
        self.join(60)
        self.client.close()


@pytest.mark.parametrize("how", ["create_topics", "metadata_auto_create", "delete_topics"])
def test_topic_creation_blocks_the_event_loop(server_process, tmp_path, how):
    """Creating or deleting many partitions (file engine) no longer stops every other client."""
    srv = server_process("--data-dir", str(tmp_path / "data"), "--fsync", "never")
    admin = Raw(srv.bootstrap, timeout=120)
    if how == "delete_topics":
        assert admin.call(_create([("big", 300)]), 7).topics[0].error_code == 0
    bystander = Bystander(srv.bootstrap)
    bystander.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    if how == "create_topics":
        assert admin.call(_create([("big", 300)]), 7).topics[0].error_code == 0
    elif how == "metadata_auto_create":
        topics = [MetadataRequest.MetadataRequestTopic(name=f"auto-{i}") for i in range(150)]
        resp = admin.call(MetadataRequest(topics=topics, allow_auto_topic_creation=True), 9)
        assert [t.error_code for t in resp.topics] == [0] * 150
    else:
        resp = admin.call(DeleteTopicsRequest(topic_names=["big"], timeout_ms=60_000), 4)
        assert resp.responses[0].error_code == 0
    t1 = time.monotonic()
    bystander.finish()
    assert bystander.answers_between(t0, t1) >= 3, (t1 - t0, len(bystander.answered))


def _produce_everywhere(c: Raw, topic: str, partitions: int, value: bytes) -> None:
    from kafkaish.wire.messages.produce import ProduceRequest
    from kafkaish.wire.records import build_batch

    req = ProduceRequest(acks=1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=p, records=build_batch([(b"k", value)], timestamp_ms=1000))
                                    for p in range(partitions)])])
    resp = c.call(req, 9)
    assert {p.error_code for p in resp.responses[0].partition_responses} == {0}


def test_restart_holds_three_fds_per_partition(server_process, tmp_path):
    """After a restart a partition holds no more fds than while running (index files not kept open)."""
    data = tmp_path / "data"
    parts = 100
    srv = server_process("--data-dir", str(data))
    c = Raw(srv.bootstrap)
    assert c.call(_create([("fds", parts)]), 7).topics[0].error_code == 0
    for _ in range(3):  # > index.interval.bytes per partition: every index file gets entries
        _produce_everywhere(c, "fds", parts, b"v" * 3000)
    c.close()
    running = settled_fds(srv.proc.pid)
    assert srv.stop() == 0
    again = server_process("--data-dir", str(data))
    assert_serving(again.bootstrap)
    restarted = settled_fds(again.proc.pid)
    assert restarted <= running + 5, (running, restarted)


def test_memory_engine_leaks_responses_of_clients_that_disconnect(broker_factory):
    """Responses to clients that left mid-fetch are freed by reference counting, no cycles."""
    import gc

    from kafkaish.wire.messages.produce import ProduceRequest
    from kafkaish.wire.records import build_batch

    kb = broker_factory(in_memory=True)
    c = Raw(kb.bootstrap)
    assert c.call(_create([("leak", 1)]), 7).topics[0].error_code == 0
    for _ in range(8):  # 8 x 1 MiB
        req = ProduceRequest(acks=1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
            name="leak", partition_data=[ProduceRequest.PartitionProduceData(
                index=0, records=build_batch([(b"k", b"x" * 1_000_000)], timestamp_ms=1000))])])
        assert c.call(req, 9).responses[0].partition_responses[0].error_code == 0
    gc.collect()
    gc.disable()
    try:
        for _ in range(4):
            greedy = Raw(kb.bootstrap)
            greedy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            big = FetchRequest(
                replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=50 << 20, isolation_level=0,
                session_id=0, session_epoch=-1,
                topics=[FetchRequest.FetchTopic(topic="leak", partitions=[FetchRequest.FetchPartition(
                    partition=0, fetch_offset=0, partition_max_bytes=50 << 20, current_leader_epoch=-1,
                    log_start_offset=-1)])])
            greedy.send(big, 11)
            greedy.sock.recv(1000)  # the answer is being written...
            greedy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            greedy.close()  # ...and the client resets the connection mid-way
        time.sleep(0.5)
        assert c.call(ApiVersionsRequest(), 0).error_code == 0
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what only the cycle collector could free, to look at it
        gc.collect()
        in_cycles = [o for o in gc.garbage if isinstance(o, (list, tuple)) and any(
            isinstance(x, (bytes, bytearray, memoryview)) and len(x) >= 100_000 for x in o)]
        assert not in_cycles, f"{len(in_cycles)} response buffers left in reference cycles"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        c.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_derivation_on_the_event_loop(broker_factory, mechanism):
    """Derived SCRAM credentials are stored (one salt per user, as Kafka's ScramCredential), so a
    login costs a few HMACs rather than 4096 PBKDF2 rounds on the event loop."""
    kb = broker_factory(in_memory=True, sasl_users={"alice": "secret"})
    salts = set()
    for _ in range(3):
        c = Raw(kb.bootstrap)
        assert c.call(SaslHandshakeRequest(mechanism=mechanism), 1).error_code == 0
        first = c.call(SaslAuthenticateRequest(auth_bytes=b"n,,n=alice,r=abcdef"), 1)
        assert first.error_code == 0
        salts.add(dict(kv.split("=", 1) for kv in first.auth_bytes.decode().split(","))["s"])
        c.close()
    assert len(salts) == 1


def test_sigterm_with_parked_requests_prints_tracebacks(server_process):
    srv = server_process("--in-memory", env={"KAFKAISH_GROUP_INITIAL_REBALANCE_DELAY_MS": "600000"})
    admin = Raw(srv.bootstrap)
    admin.call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="parked")]), 9)
    parked = [Raw(srv.bootstrap) for _ in range(10)]
    for p in parked[:8]:
        p.send(long_poll("parked"), 11)
    for i, p in enumerate(parked[8:]):
        p.send(JoinGroupRequest(group_id=f"g{i}", session_timeout_ms=30_000, rebalance_timeout_ms=300_000,
                                member_id="", protocol_type="consumer", protocols=[
                                    JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]), 1)
    time.sleep(0.5)
    assert srv.stop() == 0  # SIGTERM
    out = srv.output
    assert "stopped cleanly" in out
    assert "Traceback" not in out and " ERROR " not in out, out[-3000:]
    for c in [admin, *parked]:
        c.close()


def test_every_rejected_frame_logs_a_warning(server_process):
    """A flood of bad frames writes a few lines and a count, not one WARNING per frame."""
    srv = server_process("--in-memory")
    for _ in range(60):
        host, port = srv.bootstrap.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"\x00\x00\x00\x08garbage!")
            s.settimeout(5)
            try:
                s.recv(10)
            except OSError:
                pass
    assert_serving(srv.bootstrap)
    srv.stop()
    out = srv.output
    assert 1 <= out.count("closing connection") <= 10, out[-3000:]


def test_toml_syntax_error_in_config_prints_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n[[[\n")
    proc = subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not valid TOML" in lines[0] and "line 1" in lines[0], proc.stderr


def test_meta_properties_without_cluster_id_is_silently_replaced(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "meta.properties").write_text("#kafkaish\nversion=1\nnode.id=1\n")
    proc = subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--data-dir", str(data), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cluster.id was not found." in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "cluster.id" not in (data / "meta.properties").read_text()  # left as it was


def test_scram_client_first_without_attributes_is_an_internal_error(broker_factory):
    """Found by scripts/fuzz.py: a SCRAM client-first of "n," raised IndexError in the broker."""
    kb = broker_factory(in_memory=True, sasl_users={"alice": "secret"})
    c = Raw(kb.bootstrap)
    assert c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    answer = c.call(SaslAuthenticateRequest(auth_bytes=b"n,"), 2)
    assert answer.error_code == 58 and "Invalid SCRAM client first message" in answer.error_message
    assert c.call(ApiVersionsRequest(), 0).error_code == 0  # answered, not closed
    c.close()


def test_big_requests_arriving_together_all_complete_under_queued_max_request_bytes(server_process):
    """Several big requests that together exceed the pool are all served, one after another
    (the bound never deadlocks them)."""
    srv = server_process("--in-memory", env={"KAFKAISH_QUEUED_MAX_REQUEST_BYTES": str(8 << 20)})
    answers: list[int] = []

    def big_request() -> None:
        c = Raw(srv.bootstrap, timeout=60)
        c.sock.sendall(b"".join(_frame_slices(c)))
        answers.append(c.recv().error_code)
        c.close()

    def _frame_slices(c: Raw) -> list[bytes]:
        frame = c.codec.encode_request(ApiVersionsRequest(client_software_name="x" * (6 << 20),
                                                          client_software_version="1"), 3)[1]
        return [frame[i:i + (1 << 20)] for i in range(0, len(frame), 1 << 20)]

    threads = [threading.Thread(target=big_request) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 3
    assert_serving(srv.bootstrap)
