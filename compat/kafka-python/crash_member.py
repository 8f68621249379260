"""A group member to be killed with SIGKILL (group_crash_failover): it never leaves the group.

    python crash_member.py BOOTSTRAP GROUP TOPIC
Prints ``state <partitions,comma-separated> <records consumed>`` whenever either changes;
commits after every poll that returned records.
"""
import sys

from kafka import KafkaConsumer

bootstrap, group, topic = sys.argv[1:4]
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="crash-member",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         heartbeat_interval_ms=200, session_timeout_ms=6000)
seen, last = 0, None
while True:
    batch = consumer.poll(timeout_ms=100)
    seen += sum(len(records) for records in batch.values())
    if batch:
        consumer.commit()
    state = (sorted(tp.partition for tp in consumer.assignment()), seen)
    if state != last:
        print(f"state {','.join(map(str, state[0]))} {seen}", flush=True)
        last = state
