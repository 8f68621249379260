// A kafkajs transaction in flight while the control plane moves the leader of its transactional
// id's __transaction_state partition (the transaction coordinator moves with it); then commit or
// abort. Usage: node kafkajs_txn_move.js BOOTSTRAP ADMIN_URL TOPIC TRANSACTIONAL_ID PARTITION commit|abort
// Prints one JSON object: {before, after} (the partition's leader before and after the move).
const path = require("path");
const { Kafka, logLevel } = require(path.join(__dirname, "../../compat/kafkajs/node_modules/kafkajs"));

const [bootstrap, admin, topic, transactionalId, partition, outcome] = process.argv.slice(2);

async function http(method, route, body) {
  const res = await fetch(admin + route, {
    method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body),
  });
  const doc = await res.json();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(doc)}`);
  return doc;
}

async function main() {
  const kafka = new Kafka({ clientId: "kafkajs-txn-move", brokers: [bootstrap], logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, maxRetryTime: 500, retries: 10 } });
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const txn = await producer.transaction();
  for (let i = 0; i < 20; i++) {
    await txn.send({ topic, messages: [{ key: `k${i}`, value: `t${i}` }] });
  }
  const state = (await http("GET", "/v1/topics/__transaction_state")).partitions[Number(partition)];
  const target = state.isr.find((n) => n !== state.leader);
  const moved = await http("POST", `/v1/topics/__transaction_state/partitions/${partition}/leader`, { broker: target });
  await (outcome === "commit" ? txn.commit() : txn.abort());
  await producer.disconnect();
  return { before: state.leader, after: moved.leader };
}

main().then((out) => {
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
}, (error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
