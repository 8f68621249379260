// The security matrix with kafkajs: one Node process runs every case of a JSON plan and prints
// one JSON object, case name -> outcome. Usage: node kafkajs_security.js PLAN.json
//
// A plan is {"cases": [...]}; each case has a name, a kind, brokers, and kafkajs' ssl/sasl
// settings (file paths for ca/cert/key):
//   roundtrip: produce `value` to `topic`, consume it from the start in a group -> {error, values}
//   refused:   describe `topic`, then produce to it; anything served is a leak -> {error, served}
//   acl:       as `admin` create the topic and an ACL giving `user` DESCRIBE only; `user` produces
//              (must fail), then `admin` adds WRITE and `user` produces again; ACLs listed and
//              deleted with kafkajs' admin -> {denied, allowed, listed, deleted}
//   reauth:    one producer sends `sends` records `pauseMs` apart, across several SASL session
//              lifetimes (KIP-368; kafkajs' reauthenticationThreshold) -> {errors}
// Cases run concurrently (each Node start costs a second or more).
const fs = require("fs");
const path = require("path");
const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } =
  require(path.join(__dirname, "../../compat/kafkajs/node_modules/kafkajs"));

function kafka(c, sasl) {
  const ssl = c.ssl && (c.ssl === true ? true : {
    ca: [fs.readFileSync(c.ssl.ca)],
    ...(c.ssl.cert ? { cert: fs.readFileSync(c.ssl.cert), key: fs.readFileSync(c.ssl.key) } : {}),
  });
  return new Kafka({
    clientId: `kafkajs-security-${c.name}`, brokers: c.brokers, logLevel: logLevel.NOTHING,
    ssl, sasl: sasl === undefined ? c.sasl : sasl, connectionTimeout: 3000, authenticationTimeout: 3000,
    requestTimeout: 10000, retry: { initialRetryTime: 100, maxRetryTime: 500, retries: c.retries ?? 5 },
    reauthenticationThreshold: c.reauthenticationThreshold,
  });
}

function errorName(e) {
  const cause = e.cause || e.originalError;  // KafkaJSNumberOfRetriesExceeded wraps the last error
  if (e.type) return e.type;
  if (cause && cause.type) return cause.type;
  return cause && e.name === "KafkaJSNumberOfRetriesExceeded" ? cause.name : e.name;
}

async function produce(client, topic, value) {
  const producer = client.producer({ allowAutoTopicCreation: true });
  try {
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value }] });
    return null;
  } catch (e) {
    return errorName(e);
  } finally {
    await producer.disconnect().catch(() => {});
  }
}

async function roundtrip(c) {
  const client = kafka(c);
  const error = await produce(client, c.topic, c.value);
  if (error) return { error, values: [] };
  const consumer = client.consumer({ groupId: `g-${c.topic}`, maxWaitTimeInMs: 200 });
  const values = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: c.topic, fromBeginning: true });
    let got;
    const done = new Promise(resolve => { got = resolve; });
    await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()); got(); } });
    await Promise.race([done, new Promise(resolve => setTimeout(resolve, 20000))]);
    return { error: null, values };
  } catch (e) {
    return { error: errorName(e), values };
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

async function refused(c) {
  const client = kafka({ ...c, retries: 1 });
  const served = [];
  let error = null;
  const admin = client.admin();
  try {
    await admin.connect();
    served.push({ metadata: await admin.fetchTopicMetadata({ topics: [c.topic] }) });
  } catch (e) {
    error = errorName(e);
  } finally {
    await admin.disconnect().catch(() => {});
  }
  const produced = await produce(client, c.topic, "leak");
  if (produced === null) served.push("produced");
  return { error: error || produced, served };
}

async function acl(c) {
  const admin = kafka(c, c.admin).admin();
  await admin.connect();
  const binding = (operation, permissionType = AclPermissionTypes.ALLOW) => ({
    resourceType: AclResourceTypes.TOPIC, resourceName: c.topic, resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: `User:${c.sasl.username}`, host: "*", operation, permissionType,
  });
  try {
    await admin.createTopics({ topics: [{ topic: c.topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.createAcls({ acl: [binding(AclOperationTypes.DESCRIBE)] });
    const denied = await produce(kafka({ ...c, retries: 1 }), c.topic, "denied");
    await admin.createAcls({ acl: [binding(AclOperationTypes.WRITE)] });
    const allowed = await produce(kafka(c), c.topic, "allowed");
    const filter = { resourceType: AclResourceTypes.TOPIC, resourceName: c.topic,
      resourcePatternType: ResourcePatternTypes.LITERAL, operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY };
    const listed = (await admin.describeAcls(filter)).resources.flatMap(r => r.acls.map(a => a.operation)).sort();
    const result = await admin.deleteAcls({ filters: [filter] });
    const deleted = result.filterResponses.flatMap(f => f.matchingAcls).length;
    const after = (await admin.describeAcls(filter)).resources.length;
    return { denied, allowed, listed, deleted, after };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function reauth(c) {
  const producer = kafka(c).producer({ allowAutoTopicCreation: true });
  const errors = [];
  await producer.connect();
  try {
    for (let i = 0; i < c.sends; i++) {
      if (i > 0) await new Promise(resolve => setTimeout(resolve, c.pauseMs));
      await producer.send({ topic: c.topic, acks: -1, messages: [{ value: `r${i}` }] }).catch(e => errors.push(errorName(e)));
    }
  } finally {
    await producer.disconnect().catch(() => {});
  }
  return { errors };
}

const KINDS = { roundtrip, refused, acl, reauth };

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const outcomes = await Promise.all(plan.cases.map(c => KINDS[c.kind](c).catch(e => ({ crashed: `${e.name}: ${e.message}` }))));
  const out = {};
  plan.cases.forEach((c, i) => { out[c.name] = outcomes[i]; });
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), e => { console.error(e); process.exit(1); });
