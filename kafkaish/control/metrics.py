"""GET /metrics: Prometheus text from the official ``prometheus_client`` (imported with the admin app).

State (topics, offsets, groups, lag, connections, parked requests) is computed at scrape time by a
custom Collector; traffic counters are the plain numbers ``kafkaish.stats.BrokerStats`` keeps on the
hot path, exported here. Topic and group metrics use kafka_exporter's names and labels
(danielqsj/kafka_exporter) so its dashboards work; broker metrics are ``kafkaish_*``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kafkaish.control import inspect as views
from kafkaish.storage.latency import FSYNC, LatencyCounts
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages import API_NAMES

if TYPE_CHECKING:
    from kafkaish.control.plane import ControlPlane

__all__ = ["CONTENT_TYPE_LATEST", "BrokerCollector", "render"]

TP = ["topic", "partition"]
GTP = ["consumergroup", "topic", "partition"]


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


def _histogram(name: str, doc: str, labels: list[str], series: Iterator[tuple[list[str], LatencyCounts]]) -> Metric:
    h = HistogramMetricFamily(name, doc, labels=labels)
    for values, counts in series:
        h.add_metric(values, counts.cumulative(), counts.total)
    return h


class BrokerCollector:
    """Everything /metrics shows for the broker behind ``plane``, read when scraped."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def collect(self) -> Iterator[Metric]:
        yield from self._cluster()
        yield from self._groups()
        yield from self._traffic()

    def _cluster(self) -> Iterator[Metric]:
        broker = self.plane.broker
        brokers = GaugeMetricFamily("kafka_brokers", "Number of Brokers in the Kafka Cluster.")
        brokers.add_metric([], sum(1 for b in self.plane.brokers() if b["up"]))
        yield brokers
        partitions = GaugeMetricFamily("kafka_topic_partitions", "Number of partitions for this Topic", labels=["topic"])
        current = GaugeMetricFamily("kafka_topic_partition_current_offset", "Current Offset of a Broker at Topic/Partition", labels=TP)
        oldest = GaugeMetricFamily("kafka_topic_partition_oldest_offset", "Oldest Offset of a Broker at Topic/Partition", labels=TP)
        leader = GaugeMetricFamily("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition", labels=TP)
        replicas = GaugeMetricFamily("kafka_topic_partition_replicas", "Number of Replicas for this Topic/Partition", labels=TP)
        isr = GaugeMetricFamily("kafka_topic_partition_in_sync_replica", "Number of In-Sync Replicas for this Topic/Partition", labels=TP)
        size = GaugeMetricFamily("kafkaish_topic_partition_size_bytes", "Bytes on the log of this Topic/Partition", labels=TP)
        for name, meta in sorted(broker.storage.topics().items()):
            partitions.add_metric([name], meta.num_partitions)
            for p in range(meta.num_partitions):
                log_ = broker.storage.log(name, p)
                labels = [name, str(p)]
                current.add_metric(labels, log_.high_watermark)  # kafka_exporter: the newest offset (HW)
                oldest.add_metric(labels, log_.log_start_offset)
                leader.add_metric(labels, broker.node_id)
                replicas.add_metric(labels, 1)  # one copy: kafkaish does not replicate
                isr.add_metric(labels, 1)
                size.add_metric(labels, log_.size_bytes())
        yield from (partitions, current, oldest, leader, replicas, isr, size)

    def _groups(self) -> Iterator[Metric]:
        broker = self.plane.broker
        offset = GaugeMetricFamily("kafka_consumergroup_current_offset", "Current Offset of a ConsumerGroup at Topic/Partition", labels=GTP)
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition", labels=GTP)
        lag_sum = GaugeMetricFamily("kafka_consumergroup_lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all partitions", labels=["consumergroup", "topic"])
        members = GaugeMetricFamily("kafka_consumergroup_members", "Amount of members in a consumer group", labels=["consumergroup"])
        states: dict[str, int] = {}
        for listed in views.groups(broker):
            gid = listed["group_id"]
            states[listed["state"]] = states.get(listed["state"], 0) + 1
            g = views.group(broker, gid)
            members.add_metric([gid], len(g.get("members", ())))
            sums: dict[str, int] = {}
            for o in g["offsets"]:
                if o["offset"] < 0:
                    continue
                labels = [gid, o["topic"], str(o["partition"])]
                offset.add_metric(labels, o["offset"])
                if o["lag"] is not None:
                    lag.add_metric(labels, o["lag"])
                    sums[o["topic"]] = sums.get(o["topic"], 0) + o["lag"]
            for topic, total in sorted(sums.items()):
                lag_sum.add_metric([gid, topic], total)
        by_state = GaugeMetricFamily("kafkaish_groups", "Consumer groups by state", labels=["state"])
        for state, n in sorted(states.items()):
            by_state.add_metric([state], n)
        yield from (offset, lag, lag_sum, members, by_state)

    def _traffic(self) -> Iterator[Metric]:
        broker = self.plane.broker
        conns = GaugeMetricFamily("kafkaish_connections", "Open client connections")
        members = broker.shared.brokers.values()  # --brokers N: every node's listeners (and one stats)
        conns.add_metric([], sum(len(getattr(s, "connections", ())) for m in members for s in m.listeners))
        purgatory = GaugeMetricFamily("kafkaish_purgatory_size", "Requests parked in a purgatory (Kafka's "
                                      "DelayedOperationPurgatory PurgatorySize)", labels=["operation"])
        purgatory.add_metric(["Fetch"], broker.shared.long_polls.parked)
        purgatory.add_metric(["Produce"], 0)  # acks=all is answered at append: no replica to wait for
        yield from (conns, purgatory)
        yield _histogram("kafkaish_fsync_duration_seconds", "fdatasync of log segments (this process)", [],
                         iter([([], FSYNC)]))
        stats = broker.stats
        if stats is None:
            return
        requests = CounterMetricFamily("kafkaish_requests", "Requests answered, by API and top-level error code",
                                       labels=["api", "error"])
        for (key, err), n in sorted(stats.requests.items()):
            requests.add_metric([API_NAMES.get(key, str(key)), _error_name(err)], n)
        yield requests
        yield _histogram("kafkaish_request_duration_seconds", "Time from a request's decoding to its response",
                         ["api"], ((([API_NAMES.get(k, str(k))]), c) for k, c in sorted(stats.latency.items())))
        for name, doc, values in (("kafkaish_topic_bytes_in", "Record bytes appended by Produce", stats.bytes_in),
                                  ("kafkaish_topic_records_in", "Records appended by Produce", stats.records_in),
                                  ("kafkaish_topic_bytes_out", "Record bytes answered by Fetch", stats.bytes_out)):
            c = CounterMetricFamily(name, doc, labels=["topic"])
            for topic, n in sorted(values.items()):
                c.add_metric([topic], n)
            yield c


def registry(plane: ControlPlane) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(BrokerCollector(plane))  # type: ignore[arg-type]
    return reg


def render(reg: Any) -> bytes:
    return generate_latest(reg)
