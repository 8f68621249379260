"""A group member to be killed with SIGKILL (group_crash_failover): it never leaves the group.

    python crash_member.py BOOTSTRAP GROUP TOPIC
Prints ``state <partitions,comma-separated> <records consumed>`` whenever either changes;
commits every record synchronously.
"""
import sys

from confluent_kafka import Consumer

bootstrap, group, topic = sys.argv[1:4]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "crash-member",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 200})
assigned: list[int] = []


def on_assign(_consumer, partitions) -> None:
    assigned[:] = sorted(tp.partition for tp in partitions)


def on_revoke(_consumer, _partitions) -> None:
    assigned.clear()


consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
seen, last = 0, None
while True:
    msg = consumer.poll(0.1)
    if msg is not None and not msg.error():
        seen += 1
        consumer.commit(message=msg, asynchronous=False)
    state = (list(assigned), seen)
    if state != last:
        print(f"state {','.join(map(str, state[0]))} {seen}", flush=True)
        last = state
