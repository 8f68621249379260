'use strict'
// kafkajs through a simulated cluster's failures: an idempotent producer (acks=all) and a consumer
// group run against a 3-broker kafkaish (`serve --brokers 3 --admin-port ...`) while the control
// plane moves every partition's leader twice, then stops broker 2 and starts it again. Returns what
// was acknowledged and consumed, the leaders seen after each step, and kafkajs's view of the cluster
// afterwards (describeCluster, fetchTopicMetadata, the group coordinator it talks to) next to the
// control plane's. Used by scenarios.js (`cluster_failover`) and tests/cluster/test_kafkajs_cluster.py:
//
//   node compat/kafkajs/cluster_chaos.js BOOTSTRAP ADMIN_URL [TOPIC [GROUP]]   # prints one JSON object
const path = require('path')
const { Kafka, logLevel } = require(path.join(__dirname, 'node_modules', 'kafkajs'))

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const GROUP_APIS = new Set(['JoinGroup', 'SyncGroup', 'Heartbeat', 'OffsetCommit', 'OffsetFetch'])

async function http(adminUrl, method, route, body) {
  const res = await fetch(adminUrl + route, {
    method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body),
  })
  const doc = await res.json()
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(doc)}`)
  return doc
}

/** Run the chaos; `log` is a kafkajs logLevel. Never throws for a client error: it is reported. */
async function runClusterChaos({ bootstrap, adminUrl, topic, groupId, rounds = 2, pauseMs = 400,
  log = logLevel.NOTHING, clientId = 'kafkajs-cluster' }) {
  const retry = { initialRetryTime: 50, maxRetryTime: 500, retries: 20 }
  const kafka = new Kafka({ clientId, brokers: [bootstrap], logLevel: log, retry })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 3,
    configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] })
  const leaders = async () => (await http(adminUrl, 'GET', `/v1/topics/${topic}`)).partitions.map(p => p.leader)

  const acked = []
  const consumed = []
  const errors = []
  const groupBrokers = []  // the broker of each group request the consumer sent: its coordinator
  // heartbeats every 200 ms: the consumer meets its coordinator's stop and must find the next one
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, heartbeatInterval: 200, retry })
  consumer.on(consumer.events.REQUEST, e => {
    if (GROUP_APIS.has(e.payload.apiName)) groupBrokers.push(e.payload.broker)
  })
  consumer.on(consumer.events.CRASH, e => errors.push(`consumer crashed: ${e.payload.error.message}`))
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ partition, message }) => {
    consumed.push([partition, Number(message.offset), message.value.toString()])
  } })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry })
  await producer.connect()

  let done = false
  const producing = (async () => {
    for (let i = 0; !done; i++) {
      const value = `v${i}`
      const [md] = await producer.send({ topic, acks: -1, messages: [{ key: `k${i % 7}`, value }] })
      acked.push([md.partition, Number(md.baseOffset), value])
      await sleep(3)
    }
  })().catch(e => errors.push(`producer: ${e.name}: ${e.message}`))

  const seen = [await leaders()]
  for (let round = 0; round < rounds; round++) {
    const parts = (await http(adminUrl, 'GET', `/v1/topics/${topic}`)).partitions
    for (const p of parts) {  // each leader moves to the next in-sync replica
      const isr = [...p.isr].sort()
      const next = isr[(isr.indexOf(p.leader) + 1) % isr.length]
      await http(adminUrl, 'POST', `/v1/topics/${topic}/partitions/${p.partition}/leader`, { broker: next })
    }
    seen.push(await leaders())
    await sleep(pauseMs)
  }
  const described = []  // the broker kafkajs sends DescribeGroups to: its FindCoordinator answer
  admin.on(admin.events.REQUEST, e => {
    if (e.payload.apiName === 'DescribeGroups') described.push(e.payload.broker)
  })
  await http(adminUrl, 'POST', '/v1/brokers/2/stop', {})
  seen.push(await leaders())
  const stopped = Date.now()
  await admin.describeGroups([groupId])  // the coordinator as kafkajs finds it with broker 2 down
  const duringStop = { describeGroupsBroker: described[described.length - 1],
    coordinator: (await http(adminUrl, 'GET', `/v1/groups/${groupId}`)).coordinator }
  await sleep(Math.max(0, pauseMs * 2 - (Date.now() - stopped)))
  await http(adminUrl, 'POST', '/v1/brokers/2/start', {})
  seen.push(await leaders())
  await sleep(pauseMs)
  done = true
  await producing

  const deadline = Date.now() + 20000  // the group reads up to the last acknowledged record
  const readAll = () => new Set(consumed.map(([p, o]) => `${p}/${o}`)).size >= acked.length
  while (Date.now() < deadline && !readAll()) await sleep(50)

  const views = {
    cluster: await admin.describeCluster(),
    metadata: (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0],
    describeGroups: (await admin.describeGroups([groupId])).groups[0],
    brokers: await http(adminUrl, 'GET', '/v1/brokers'),
    topic: await http(adminUrl, 'GET', `/v1/topics/${topic}`),
    group: await http(adminUrl, 'GET', `/v1/groups/${groupId}`),
  }
  views.describeGroupsBroker = described[described.length - 1]
  views.consumerCoordinator = groupBrokers[groupBrokers.length - 1]
  views.groupBrokers = [...new Set(groupBrokers)]  // every broker the consumer took for its coordinator
  views.duringStop = duringStop
  await consumer.disconnect().catch(() => {})
  // kafkajs re-delivers across its own rejoins (above); what the cluster stores is read once more
  // by a new group, with no chaos: every record exactly once, in order
  const reread = []
  const reader = kafka.consumer({ groupId: `${groupId}-reread`, maxWaitTimeInMs: 100, retry })
  await reader.connect()
  await reader.subscribe({ topic, fromBeginning: true })
  await reader.run({ eachMessage: async ({ partition, message }) => {
    reread.push([partition, Number(message.offset), message.value.toString()])
  } })
  const until = Date.now() + 20000
  while (Date.now() < until && reread.length < acked.length) await sleep(50)
  await sleep(300)
  await reader.disconnect().catch(() => {})
  await producer.disconnect().catch(() => {})
  await admin.disconnect().catch(() => {})
  return { acked, consumed, reread, seen, views, errors }
}

/** What is wrong with a run. The group that ran through the chaos: every acknowledged record read
 *  where it was acknowledged, per partition in order with no gap; a record read again only as part
 *  of a replay from an earlier offset (kafkajs rejoins the group when a leader moves: Fetch's
 *  NOT_LEADER_FOR_PARTITION is in consumerGroup.js's STALE_METADATA_ERRORS, then joinAndSync; an
 *  auto-commit racing that rejoin is refused for the old generation, and the new one resumes from
 *  the last commit, on Kafka as here). The re-read by a new group: exactly once, offsets 0, 1, 2...
 *  The views agree with the control plane. */
function chaosProblems({ acked, consumed, reread, seen, views, errors }) {
  const out = [...errors]
  if (!acked.length) out.push('nothing was acknowledged')
  if (new Set(seen.map(s => s.join(','))).size <= 2) out.push(`the leaders did not move: ${JSON.stringify(seen)}`)
  const next = new Map()  // partition -> the offset after the highest one read
  for (const [p, offset] of consumed) {
    const expected = next.get(p) || 0
    if (offset > expected) out.push(`partition ${p}: gap, offset ${offset} read after ${expected - 1}`)
    next.set(p, Math.max(expected, offset + 1))
  }
  const byPartition = new Map()
  for (const [p, offset] of reread) byPartition.set(p, [...(byPartition.get(p) || []), offset])
  for (const [p, offsets] of byPartition) {
    const bad = offsets.findIndex((o, i) => o !== i)
    if (bad >= 0) out.push(`re-read, partition ${p}: offset ${offsets[bad]} at position ${bad} (gap or duplicate)`)
  }
  const values = reread.map(c => c[2])
  if (new Set(values).size !== values.length) out.push('a record was written twice')
  for (const [what, records] of [['read', consumed], ['re-read', reread]]) {
    const at = new Map(records.map(([p, o, v]) => [`${p}/${o}`, v]))
    const missing = acked.filter(([p, o, v]) => at.get(`${p}/${o}`) !== v)
    if (missing.length) out.push(`${missing.length} acknowledged records not ${what} where acknowledged, e.g. ${missing[0]}`)
  }
  const address = id => views.brokers.filter(b => b.node_id === id).map(b => `${b.host}:${b.port}`)[0]
  const nodes = views.cluster.brokers.map(b => b.nodeId).sort()
  if (nodes.join(',') !== '1,2,3') out.push(`describeCluster brokers ${nodes}`)
  const controller = views.brokers.find(b => b.controller)
  if (views.cluster.controller !== controller.node_id) out.push(`controller ${views.cluster.controller}`)
  for (const part of views.topic.partitions) {
    const seenBy = views.metadata.partitions.find(x => x.partitionId === part.partition)
    const mine = [seenBy.leader, [...seenBy.replicas].sort(), [...seenBy.isr].sort()]
    const theirs = [part.leader, [...part.replicas].sort(), [...part.isr].sort()]
    if (JSON.stringify(mine) !== JSON.stringify(theirs) || part.replicas.length !== 3) {
      out.push(`partition ${part.partition}: kafkajs sees ${JSON.stringify(mine)}, the cluster ${JSON.stringify(theirs)}`)
    }
  }
  const coordinator = address(views.group.coordinator)
  if (views.describeGroupsBroker !== coordinator) out.push(`DescribeGroups sent to ${views.describeGroupsBroker}, coordinator ${coordinator}`)
  if (views.consumerCoordinator !== coordinator) out.push(`the consumer's group requests went to ${views.consumerCoordinator}, coordinator ${coordinator}`)
  const moved = address(views.duringStop.coordinator)
  if (views.duringStop.describeGroupsBroker !== moved) out.push(`with broker 2 stopped, DescribeGroups sent to ${views.duringStop.describeGroupsBroker}, coordinator ${moved}`)
  if (views.describeGroups.state !== 'Stable' && views.describeGroups.state !== 'Empty') out.push(`group ${views.describeGroups.state}`)
  return out
}

module.exports = { runClusterChaos, chaosProblems }

if (require.main === module) {
  const suffix = Math.random().toString(16).slice(2, 8)
  const [bootstrap, adminUrl, topic = `kjs-cluster-${suffix}`, groupId = topic] = process.argv.slice(2)
  runClusterChaos({ bootstrap, adminUrl, topic, groupId,
    log: process.env.KAFKAJS_LOG_LEVEL ? logLevel[process.env.KAFKAJS_LOG_LEVEL] : logLevel.NOTHING })
    .then(result => {
      process.stdout.write(JSON.stringify({ ...result, problems: chaosProblems(result) }) + '\n')
      process.exit(0)
    }, error => {
      process.stderr.write(`${error.stack}\n`)
      process.exit(1)
    })
}
