// Fault rules driven from Node over the admin HTTP port, against kafkajs: proof that any
// language can script kafkaish's faults. Usage: node kafkajs_faults.js BOOTSTRAP ADMIN_URL
// Prints one JSON object: scenario -> {error, hits, values}.
const path = require("path");
const { Kafka, logLevel } = require(path.join(__dirname, "../../compat/kafkajs/node_modules/kafkajs"));

const [bootstrap, admin] = process.argv.slice(2);

async function http(method, route, body) {
  const res = await fetch(admin + route, {
    method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body),
  });
  return res.json();
}

function client(extra) {
  return new Kafka({ clientId: "kafkajs-faults", brokers: [bootstrap], logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, maxRetryTime: 500, retries: 8 }, ...extra });
}

async function produceOnce(topic, extra, producerOpts) {
  const producer = client(extra).producer({ allowAutoTopicCreation: true, ...producerOpts });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ value: "v" }] });
    return null;
  } catch (e) {
    const cause = e.cause || e.originalError;  // KafkaJSNumberOfRetriesExceeded wraps the last error
    return e.type || (e.name === "KafkaJSNumberOfRetriesExceeded" && cause ? cause.name : e.name);
  } finally {
    await producer.disconnect().catch(() => {});
  }
}

async function scenario(name, rule, run) {
  const topic = `kjs-${name}-${Math.random().toString(16).slice(2, 8)}`;
  const adminClient = client().admin();
  await adminClient.connect();
  await adminClient.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await adminClient.disconnect();
  const added = await http("POST", "/v1/faults", { ...rule(topic) });
  const error = await run(topic);
  const hits = (await http("GET", `/v1/faults/${added.id}`)).hits;
  await http("DELETE", `/v1/faults/${added.id}`);
  const recs = await http("GET", `/v1/topics/${topic}/partitions/0/records`);
  return { error, hits, values: recs.records.map((r) => r.value) };
}

async function main() {
  const out = {};
  out.retried = await scenario("retried",
    (t) => ({ api: "Produce", topic: t, error: "NOT_LEADER_OR_FOLLOWER", times: 2 }), (t) => produceOnce(t));
  out.surfaced = await scenario("surfaced",
    (t) => ({ api: "Produce", topic: t, error: "TOPIC_AUTHORIZATION_FAILED", times: 1 }), (t) => produceOnce(t));
  const noRetry = { requestTimeout: 1000, retry: { retries: 0 } };
  out.delay = await scenario("delay", (t) => ({ api: "Produce", topic: t, delay_ms: 3000 }),
    (t) => produceOnce(t, noRetry, { retry: { retries: 0 } }));
  out.drop = await scenario("drop", (t) => ({ api: "Produce", topic: t, drop: true, times: 1 }),
    (t) => produceOnce(t, noRetry, { retry: { retries: 0 } }));
  out.close = await scenario("close", (t) => ({ api: "Produce", topic: t, close: true, times: 1 }),
    (t) => produceOnce(t));
  out.down = await scenario("down", (t) => ({ api: "Produce", topic: t, down_ms: 1500, times: 1 }),
    (t) => produceOnce(t));
  const group = `kjs-g-${Math.random().toString(16).slice(2, 8)}`;
  out.coordinator = await scenario("coordinator",
    () => ({ api: "FindCoordinator", group, error: "COORDINATOR_NOT_AVAILABLE", times: 2 }),
    async (t) => {
      const kafka = client();
      const p = kafka.producer();
      await p.connect();
      await p.send({ topic: t, messages: [{ value: "v" }] });
      await p.disconnect();
      const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic: t, fromBeginning: true });
      const got = new Promise((resolve) => {
        consumer.run({ autoCommit: false, eachMessage: async ({ topic, partition, message }) => {
          await consumer.commitOffsets([{ topic, partition, offset: (Number(message.offset) + 1).toString() }]);
          resolve(message.value.toString());
        } });
      });
      const value = await got;
      await consumer.disconnect();
      return value === "v" ? null : `got ${value}`;
    });
  out.coordinator.committed = (await http("GET", `/v1/groups/${group}`)).offsets.map((o) => o.offset);
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
