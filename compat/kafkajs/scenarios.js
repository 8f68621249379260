'use strict'
// The compat scenarios (compat/scenarios.txt) driven with kafkajs.
//
//   COMPAT_BOOTSTRAP=127.0.0.1:9092 COMPAT_STRICT_BOOTSTRAP=127.0.0.1:9093 \
//   COMPAT_BROKER_MAX_BYTES=100000 node compat/kafkajs/scenarios.js [--only a,b] [--timeout 30]
//
// (compat/run.py starts the servers and sets those variables.) Prints
// `VERSION kafkajs x.y.z`, then one `PASS name` / `FAIL name: reason` /
// `SKIP name: reason` line per scenario, and `NOTE name: text` where a PASS needs
// a word of explanation. kafkajs logs go to stderr.
//
// kafkajs traps met here: a consumer always belongs to a group (no manual
// assignment), consumers default to read_committed, and send() reports one
// offset per partition, not per message.
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const { execFileSync, spawn } = require('child_process')
const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes, AssignerProtocol } = require('kafkajs')
const { registerCodecs } = require('./codecs')
const { runClusterChaos, chaosProblems } = require('./cluster_chaos')

const SCENARIO_FILE = path.join(__dirname, '..', 'scenarios.txt')
const CLEANUP_TIMEOUT_MS = 10000

// ------------------------------------------------------------------ harness

class Skip extends Error {}
class Failed extends Error {}

function check(condition, message) {
  if (!condition) throw new Failed(message)
}

function plain(value) {
  return JSON.stringify(value, (key, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString() : v))
}

function checkEq(actual, expected, what) {
  if (plain(actual) !== plain(expected)) {
    throw new Failed(`${what}: expected ${plain(expected)}, got ${plain(actual)}`)
  }
}

const unique = prefix => `compat-${prefix}-${crypto.randomBytes(5).toString('hex')}`
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitUntil(predicate, timeoutMs, what, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Failed(`timed out after ${timeoutMs / 1000}s waiting for ${what}`)
    await sleep(intervalMs)
  }
}

function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Failed(`${what} timed out after ${ms / 1000}s`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Every `type`/`name` in an error and the errors it wraps (kafkajs nests them). */
function errorTypes(error, seen = new Set()) {
  if (!error || typeof error !== 'object' || seen.has(error)) return []
  seen.add(error)
  const own = [error.type, error.name].filter(Boolean)
  const nested = [error.originalError, error.cause, ...(error.errors || [])]
  return own.concat(...nested.map(e => errorTypes(e, seen)))
}

async function expectRejection(promise, type, what) {
  try {
    await promise
  } catch (error) {
    const types = errorTypes(error)
    check(types.includes(type), `${what}: expected ${type}, got ${types.join('/')}: ${error.message}`)
    return error
  }
  throw new Failed(`${what}: expected ${type}, got success`)
}

class Env {
  constructor(name) {
    this.name = name
    this.bootstrap = process.env.COMPAT_BOOTSTRAP
    this.strictBootstrap = process.env.COMPAT_STRICT_BOOTSTRAP
    // where to log in: the strict server (kafkaish), its SASL listener (Kafka)
    this.saslBootstrap = process.env.COMPAT_SASL_BOOTSTRAP || this.strictBootstrap
    this.brokerMaxBytes = Number(process.env.COMPAT_BROKER_MAX_BYTES)
    this.saslUser = process.env.COMPAT_SASL_USER
    this.saslPassword = process.env.COMPAT_SASL_PASSWORD
    // a 3-broker kafkaish and its control plane (cluster_failover); kafkaish only
    this.clusterBootstrap = process.env.COMPAT_CLUSTER_BOOTSTRAP
    this.clusterAdmin = process.env.COMPAT_CLUSTER_ADMIN
    this.deferred = []
    this.logs = []
    this.notes = []
  }

  defer(fn) {
    this.deferred.push(fn)
  }

  note(text) {
    this.notes.push(text)
  }

  async cleanup() {
    while (this.deferred.length) {
      const fn = this.deferred.pop()
      try {
        await withTimeout(Promise.resolve().then(fn), CLEANUP_TIMEOUT_MS, 'clean-up')
      } catch (error) {
        process.stderr.write(`[${this.name}] clean-up failed: ${error.message}\n`)
      }
    }
  }
}

const oneLine = text => String(text).replace(/\s+/g, ' ').slice(0, 400)

async function runOne(name, fn, timeoutMs) {
  const env = new Env(name)
  const started = Date.now()
  let line
  try {
    await withTimeout(fn(env), timeoutMs, 'scenario')
    line = `PASS ${name}`
  } catch (error) {
    if (error instanceof Skip) {
      line = `SKIP ${name}: ${oneLine(error.message)}`
    } else {
      process.stderr.write(`[${name}] ${error.stack}\n`)
      const kind = error instanceof Failed ? '' : `${error.name}: `
      line = `FAIL ${name}: ${oneLine(kind + error.message)}`
    }
  } finally {
    await env.cleanup()
  }
  process.stderr.write(`[${name}] ${((Date.now() - started) / 1000).toFixed(1)}s\n`)
  return [line, ...env.notes.map(n => `NOTE ${name}: ${oneLine(n)}`)]
}

// ------------------------------------------------------------------ clients

function kafka(env, bootstrap, clientId = 'compat-kafkajs', sasl = undefined) {
  const logCreator = () => ({ namespace, label, log }) => {
    env.logs.push({ label, namespace, message: log.message, log })
    process.stderr.write(`${log.timestamp} [${env.name}] ${label} ${namespace}: ${log.message}\n`)
  }
  return new Kafka({
    clientId,
    brokers: [bootstrap || env.bootstrap],
    logLevel: logLevel[(process.env.COMPAT_KAFKAJS_LOG_LEVEL || 'WARN').toUpperCase()],
    logCreator,
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    ...(sasl ? { sasl } : {}),
  })
}

async function admin(env, bootstrap, sasl) {
  const client = kafka(env, bootstrap, 'compat-kafkajs', sasl).admin()
  await client.connect()
  env.defer(() => client.disconnect())
  return client
}

async function producer(env, options = {}, bootstrap, sasl) {
  const client = kafka(env, bootstrap, 'compat-kafkajs', sasl).producer(options)
  await client.connect()
  env.defer(() => client.disconnect())
  return client
}

async function createTopic(env, prefix, { partitions = 1, configs = {}, bootstrap, sasl } = {}) {
  const topic = unique(prefix)
  const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }))
  const adm = await admin(env, bootstrap, sasl)
  const created = await adm.createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries }],
    waitForLeaders: true,
  })
  check(created, `createTopics(${topic}) returned false`)
  // Kafka's leaders can answer Metadata before their replica manager hosts the new partitions,
  // and a produce then gets UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this
  // topic-partition", seen once against the reference): wait (bounded) until every partition
  // answers ListOffsets, which the leader serves from its replica manager
  const deadline = Date.now() + 15000
  for (;;) {
    try {
      const offsets = await adm.fetchTopicOffsets(topic)
      if (offsets.length === partitions) break
    } catch (e) {
      if (Date.now() > deadline) throw e
    }
    if (Date.now() > deadline) throw new Error(`${topic}: partitions not served after 15 s`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return topic
}

const message = (value, extra = {}) => ({ value: Buffer.from(value), ...extra })
const values = records => records.map(r => r.value.toString())

/**
 * A group consumer collecting every record it gets, optionally committing each one.
 * kafkajs has no manual assignment: a plain "reader" is a consumer in a group of its own.
 */
class Member {
  constructor(env, topic, { groupId, clientId = 'compat-reader', readUncommitted = true, fromBeginning = true,
    commit = false, bootstrap, maxBytesPerPartition, sasl } = {}) {
    this.env = env
    this.topic = topic
    this.fromBeginning = fromBeginning
    this.commit = commit
    this.records = []
    this.assignment = new Set()
    this.fetches = 0
    this.consumer = kafka(env, bootstrap, clientId, sasl).consumer({
      groupId: groupId || unique('reader'),
      readUncommitted,
      heartbeatInterval: 200,
      sessionTimeout: 10000,
      rebalanceTimeout: 10000,
      maxWaitTimeInMs: 100,
      ...(maxBytesPerPartition ? { maxBytesPerPartition } : {}),
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    })
    const { GROUP_JOIN, FETCH, CRASH } = this.consumer.events
    this.consumer.on(GROUP_JOIN, ({ payload }) => {
      this.assignment = new Set(payload.memberAssignment[topic] || [])
    })
    this.consumer.on(FETCH, () => { this.fetches += 1 })
    this.consumer.on(CRASH, ({ payload }) => { this.crash = payload.error })
    this.stopped = false
  }

  async start() {
    await this.consumer.connect()
    this.env.defer(() => this.stop())
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: this.fromBeginning })
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message: m }) => {
        if (this.commit) { // before the record counts as received: failover checks rely on it
          await this.consumer.commitOffsets([{ topic, partition, offset: String(Number(m.offset) + 1) }])
        }
        this.records.push({ topic, partition, offset: Number(m.offset), key: m.key, value: m.value,
          headers: m.headers, timestamp: m.timestamp })
      },
    })
    return this
  }

  checkAlive() {
    if (this.crash) throw new Failed(`consumer crashed: ${this.crash.message}`)
  }

  async waitFor(count, timeoutMs = 10000) {
    await waitUntil(() => (this.checkAlive(), this.records.length >= count), timeoutMs,
      `${count} records (got ${this.records.length})`)
    return this.records.slice(0, count)
  }

  /** Waits until the consumer joined and fetched once: its start offsets are resolved. */
  async ready(timeoutMs = 10000) {
    await waitUntil(() => (this.checkAlive(), this.assignment.size > 0 && this.fetches > 0), timeoutMs,
      'the consumer to join and fetch')
  }

  async stop() {
    if (this.stopped) return
    this.stopped = true
    await this.consumer.disconnect()
  }
}

async function reader(env, topic, options = {}) {
  return new Member(env, topic, options).start()
}

async function describeTopicConfigs(adm, topic) {
  const { resources } = await adm.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
    includeSynonyms: false,
  })
  checkEq(resources[0].errorCode, 0, 'describeConfigs error code')
  return Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e]))
}

async function topicOffsets(adm, topic) {
  return (await adm.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
}

// ------------------------------------------------------------------ produce / consume

async function roundtrip(env) {
  const topic = await createTopic(env, 'roundtrip', { partitions: 3 })
  const base = Date.now() - 60000
  const sent = [...Array(9).keys()].map(i => ({
    key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), partition: i % 3,
    headers: { h1: Buffer.from(`x${i}`), h2: Buffer.from('') }, timestamp: String(base + i),
  }))
  await (await producer(env)).send({ topic, messages: sent })
  const got = await (await reader(env, topic)).waitFor(9)
  const row = r => [r.partition, r.offset, r.key.toString(), r.value.toString(),
    Object.entries(r.headers).map(([k, v]) => [k, v.toString()]), String(r.timestamp)]
  const sortRows = rows => rows.map(row).sort((a, b) => a[0] - b[0] || a[1] - b[1])
  // partition p gets messages p, p+3, p+6: their offsets are 0, 1, 2
  checkEq(sortRows(got), sortRows(sent.map((m, i) => ({ ...m, offset: Math.floor(i / 3) }))), 'consumed records')
}

async function keyPartitioning(env) {
  const topic = await createTopic(env, 'keys', { partitions: 4 })
  const keys = [...Array(6).keys()].map(i => `key-${i}`)
  const thrice = keys.flatMap(k => [1, 2, 3].map(() => ({ key: k, value: 'a' })))
  await (await producer(env)).send({ topic, messages: thrice })
  await (await producer(env)).send({ topic, messages: keys.map(k => ({ key: k, value: 'b' })) })
  const got = await (await reader(env, topic)).waitFor(keys.length * 4)
  const placement = {}
  for (const r of got) (placement[r.key.toString()] = placement[r.key.toString()] || new Set()).add(r.partition)
  const unstable = Object.entries(placement).filter(([, parts]) => parts.size !== 1)
  check(unstable.length === 0, `keys spread over several partitions: ${plain(unstable.map(([k, p]) => [k, [...p]]))}`)
}

async function bulkFetch(env) {
  const topic = await createTopic(env, 'bulk', { partitions: 3 })
  const payload = crypto.randomBytes(1000)
  const prod = await producer(env)
  for (let start = 0; start < 3000; start += 500) {
    const messages = [...Array(500).keys()].map(i => ({ value: payload, partition: (start + i) % 3 }))
    await prod.send({ topic, messages })
  }
  const got = await (await reader(env, topic, { maxBytesPerPartition: 65536 })).waitFor(3000, 20000)
  const byPartition = {}
  for (const r of got) (byPartition[r.partition] = byPartition[r.partition] || []).push(r.offset)
  checkEq(Object.values(byPartition).map(offs => offs.length), [1000, 1000, 1000], 'records per partition')
  for (const [p, offs] of Object.entries(byPartition)) {
    checkEq(offs, [...Array(1000).keys()], `offsets of partition ${p} (in order, no gap, no duplicate)`)
  }
}

async function acksZero(env) {
  const topic = await createTopic(env, 'acks0')
  const prod = await producer(env)
  for (const chunk of [0, 1]) { // two Produce requests on one connection, no responses
    await prod.send({ topic, acks: 0, messages: [0, 1, 2, 3, 4].map(i => message(`z${chunk * 5 + i}`)) })
  }
  checkEq(values(await (await reader(env, topic)).waitFor(10)), [...Array(10).keys()].map(i => `z${i}`),
    'records produced with acks=0')
}

async function logAppendTime(env) {
  const topic = await createTopic(env, 'logtime', { configs: { 'message.timestamp.type': 'LogAppendTime' } })
  const old = Date.now() - 3600000
  const before = Date.now()
  await (await producer(env)).send({ topic, messages: [0, 1, 2].map(() => message('t', { timestamp: String(old) })) })
  const after = Date.now()
  // kafkajs shows no timestamp type; with LogAppendTime it reports the batch's (broker) time
  for (const r of await (await reader(env, topic)).waitFor(3)) {
    const stamp = Number(r.timestamp)
    check(before - 1000 <= stamp && stamp <= after + 1000,
      `timestamp ${stamp} is not the broker's append time (sent ${old}, window ${before}..${after})`)
  }
}

/**
 * Codec names of the batches kafkaish stored, read by compat/wire_probe.py (a raw
 * Fetch), not by kafkajs: a client could send uncompressed batches and never notice.
 */
function probe(env, topic) {
  const python = process.env.COMPAT_PYTHON || 'python3'
  const script = path.join(__dirname, '..', 'wire_probe.py')
  return JSON.parse(execFileSync(python, [script, env.bootstrap, topic], { encoding: 'utf8', timeout: 15000 }))
}

const storedCodecs = (env, topic) => probe(env, topic).codecs

function compression(codec) {
  return async env => {
    const topic = await createTopic(env, `codec-${codec}`)
    const payloads = [...Array(50).keys()].map(i => `record ${i} `.repeat(20))
    await (await producer(env)).send({
      topic, compression: CompressionTypes[codec], messages: payloads.map((v, i) => ({ key: String(i), value: v })),
    })
    checkEq(values(await (await reader(env, topic)).waitFor(50)), payloads, `${codec} round trip`)
    const stored = storedCodecs(env, topic)
    const wanted = codec.toLowerCase()
    check(stored.length > 0 && stored.every(c => c === wanted),
      `stored batches are ${plain(stored)}, expected ${wanted}`)
  }
}

// ------------------------------------------------------------------ consumer groups

async function groupMember(env, topic, groupId, clientId) {
  return new Member(env, topic, { groupId, clientId, commit: true }).start()
}

async function groupRebalance(env) {
  const topic = await createTopic(env, 'rebalance', { partitions: 4 })
  const groupId = unique('g-rebalance')
  const a = await groupMember(env, topic, groupId, 'member-a')
  await waitUntil(() => (a.checkAlive(), a.assignment.size === 4), 15000, 'first member to own 4 partitions')
  const b = await groupMember(env, topic, groupId, 'member-b')
  await waitUntil(() => {
    a.checkAlive(); b.checkAlive()
    const union = new Set([...a.assignment, ...b.assignment])
    return a.assignment.size === 2 && b.assignment.size === 2 && union.size === 4
  }, 20000, 'the two members to split 4 partitions 2/2')
  await (await producer(env)).send({ topic, messages: [0, 1, 2, 3].map(p => message(`p${p}`, { partition: p })) })
  await waitUntil(() => a.records.length + b.records.length === 4, 10000, 'both members to receive their records')
  checkEq([...new Set(a.records.map(r => r.partition))].sort(), [...a.assignment].sort(),
    'partitions member-a received from')
}

async function groupFailover(env) {
  const topic = await createTopic(env, 'failover', { partitions: 2 })
  const groupId = unique('g-failover')
  const prod = await producer(env)
  const batch = label => [0, 1].flatMap(p => [0, 1, 2, 3, 4].map(i => message(`${label}-${p}-${i}`, { partition: p })))
  await prod.send({ topic, messages: batch('old') })
  const a = await groupMember(env, topic, groupId, 'member-a')
  const b = await groupMember(env, topic, groupId, 'member-b')
  await waitUntil(() => (a.checkAlive(), b.checkAlive(), a.assignment.size === 1 && b.assignment.size === 1),
    20000, 'two members with one partition each')
  await waitUntil(() => a.records.length + b.records.length === 10, 10000, 'the first 10 records to be consumed')
  await b.stop()
  await waitUntil(() => (a.checkAlive(), a.assignment.size === 2), 20000, 'the survivor to own both partitions')
  const before = a.records.length
  await prod.send({ topic, messages: batch('new') })
  await waitUntil(() => a.records.length - before >= 10, 10000, 'the survivor to receive the 10 new records')
  await sleep(300)
  checkEq(values(a.records.slice(before)).sort(), batch('new').map(m => m.value.toString()).sort(),
    'records the survivor got after the failover (old ones would mean lost commits)')
}

/** A group member in a child process (crash_member.js), killed with SIGKILL: it never leaves. */
class ChildMember {
  constructor(env, groupId, topic) {
    this.partitions = []
    this.consumed = 0
    this.proc = spawn(process.execPath, [path.join(__dirname, 'crash_member.js'), env.bootstrap, groupId, topic],
      { stdio: ['ignore', 'pipe', 'inherit'] })
    this.proc.on('exit', code => { this.exitCode = code })
    let buffered = ''
    this.proc.stdout.on('data', chunk => {
      buffered += chunk
      const lines = buffered.split('\n')
      buffered = lines.pop()
      for (const line of lines) {
        const [word, ...rest] = line.trim().split(/\s+/)
        if (word !== 'state') continue
        this.consumed = Number(rest.pop())
        this.partitions = rest.length ? rest[0].split(',').map(Number) : []
      }
    })
    env.defer(() => this.kill())
  }

  alive() {
    if (this.exitCode !== undefined) throw new Failed(`the child member exited early with ${this.exitCode}`)
    return true
  }

  kill() {
    if (this.exitCode === undefined) this.proc.kill('SIGKILL')
  }
}

async function groupCrashFailover(env) {
  const topic = await createTopic(env, 'crash', { partitions: 2 })
  const groupId = unique('g-crash')
  const prod = await producer(env)
  const batch = label => [0, 1].flatMap(p => [0, 1, 2, 3, 4].map(i => message(`${label}-${p}-${i}`, { partition: p })))
  await prod.send({ topic, messages: batch('old') })
  const a = await groupMember(env, topic, groupId, 'member-a')
  const b = new ChildMember(env, groupId, topic)
  await waitUntil(() => (a.checkAlive(), b.alive() && a.assignment.size === 1 && b.partitions.length === 1),
    20000, 'two members with one partition each')
  await waitUntil(() => a.records.length + b.consumed === 10, 10000, 'the first 10 records to be consumed')
  b.kill() // no LeaveGroup: only its session timeout (6 s) removes it
  await waitUntil(() => (a.checkAlive(), a.assignment.size === 2), 25000, 'the survivor to own both partitions')
  const before = a.records.length
  await prod.send({ topic, messages: batch('new') })
  await waitUntil(() => a.records.length - before >= 10, 10000, 'the survivor to receive the 10 new records')
  await sleep(300)
  checkEq(values(a.records.slice(before)).sort(), batch('new').map(m => m.value.toString()).sort(),
    'records the survivor got after the crash (old ones would mean lost commits)')
}

async function groupStaticMember() {
  throw new Skip('kafkajs 2.2.4 has no static membership: no groupInstanceId consumer option ' +
    '(its JoinGroup v5 encoder has the field, the consumer never sets it)')
}

async function groupConsumerProtocol() {
  throw new Skip('kafkajs 2.2.4 implements only the classic group protocol (no ConsumerGroupHeartbeat, KIP-848)')
}

async function groupResume(env) {
  const topic = await createTopic(env, 'resume')
  const groupId = unique('g-resume')
  await (await producer(env)).send({ topic, messages: [...Array(10).keys()].map(i => message(`m${i}`)) })
  const first = await reader(env, topic, { groupId })
  await first.waitFor(10)
  await first.consumer.commitOffsets([{ topic, partition: 0, offset: '6' }])
  const [committed] = await (await admin(env)).fetchOffsets({ groupId, topics: [topic] })
  checkEq(committed.partitions.map(p => p.offset), ['6'], 'committed offset read back')
  await first.stop()
  const second = await reader(env, topic, { groupId })
  checkEq((await second.waitFor(4)).map(r => r.offset), [6, 7, 8, 9], 'offsets the second consumer resumed with')
}

async function groupOffsetsAdmin(env) {
  const topic = await createTopic(env, 'goffsets')
  const groupId = unique('g-offsets')
  await (await producer(env)).send({ topic, messages: [...Array(6).keys()].map(i => message(`m${i}`)) })
  const adm = await admin(env)
  await adm.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] })
  const [listed] = await adm.fetchOffsets({ groupId, topics: [topic] })
  checkEq(listed.partitions.map(p => p.offset), ['3'], 'offsets listed after setOffsets')
  const member = await reader(env, topic, { groupId })
  checkEq((await member.waitFor(3)).map(r => r.offset), [3, 4, 5], 'offsets a new member resumed with')
  await member.stop()
  await adm.deleteGroups([groupId])
  const { groups } = await adm.listGroups()
  check(!groups.some(g => g.groupId === groupId), 'the deleted group is still listed')
}

async function groupAdmin(env) {
  const topic = await createTopic(env, 'gadmin', { partitions: 2 })
  const groupId = unique('g-admin')
  await (await producer(env)).send({ topic, messages: [0, 1].map(p => message('x', { partition: p })) })
  const member = await groupMember(env, topic, groupId, 'admin-member')
  await member.waitFor(2, 15000)
  const adm = await admin(env)
  const listed = await waitUntil(async () => (await adm.listGroups()).groups.find(g => g.groupId === groupId), 10000,
    'the group in listGroups')
  checkEq(listed.protocolType, 'consumer', 'listed protocol type')
  const [desc] = (await adm.describeGroups([groupId])).groups
  checkEq([desc.errorCode, desc.state], [0, 'Stable'], 'described group error/state')
  checkEq(desc.members.map(m => m.clientId), ['admin-member'], 'described member client ids')
  const { assignment } = AssignerProtocol.MemberAssignment.decode(desc.members[0].memberAssignment)
  checkEq((assignment[topic] || []).sort(), [0, 1], 'described member assignment')
  await waitUntil(async () => {
    const [offsets] = await adm.fetchOffsets({ groupId, topics: [topic] })
    return plain(offsets.partitions.map(p => p.offset)) === plain(['1', '1'])
  }, 10000, 'committed offsets 1/1 in fetchOffsets')
}

// ------------------------------------------------------------------ replay

async function replaySeek(env) {
  const topic = await createTopic(env, 'seek')
  await (await producer(env)).send({ topic, messages: [...Array(10).keys()].map(i => message(`m${i}`)) })
  const r = await reader(env, topic)
  await r.waitFor(10)
  const seek = async (offset, count) => {
    r.records = []
    r.consumer.seek({ topic, partition: 0, offset: String(offset) })
    return r.waitFor(count)
  }
  checkEq((await seek(4, 6)).map(x => x.offset), [4, 5, 6, 7, 8, 9], 'offsets after seek(4)')
  checkEq(values(await seek(7, 3)), ['m7', 'm8', 'm9'], 'values after seek(7)')
  checkEq((await seek(0, 1))[0].offset, 0, 'first offset after seek(0)')
}

async function replayOffsets(env) {
  const topic = await createTopic(env, 'offsets')
  const adm = await admin(env)
  const [empty] = await topicOffsets(adm, topic)
  checkEq([empty.low, empty.high], ['0', '0'], 'low/high of an empty topic')
  const prod = await producer(env)
  await prod.send({ topic, messages: [...Array(7).keys()].map(() => message('x')) })
  const [full] = await topicOffsets(adm, topic)
  checkEq([full.low, full.high], ['0', '7'], 'low/high after 7 records')
  const latest = await reader(env, topic, { fromBeginning: false })
  await latest.ready()
  await prod.send({ topic, messages: [message('after-end')] })
  const got = await latest.waitFor(1)
  checkEq([got[0].offset, got[0].value.toString()], [7, 'after-end'], 'first record read from the end offset')
}

async function replayOffsetsForTimes(env) {
  const topic = await createTopic(env, 'times')
  const base = Date.now() - 100000
  await (await producer(env)).send({
    topic, messages: [...Array(5).keys()].map(i => message(`t${i}`, { timestamp: String(base + i * 1000) })),
  })
  const adm = await admin(env)
  const lookup = async ts => (await adm.fetchTopicOffsetsByTimestamp(topic, ts))[0].offset
  checkEq(await lookup(base + 1500), '2', 'offset for base+1500')
  checkEq(await lookup(base - 5000), '0', 'offset for a timestamp before the first record')
  // kafkajs replaces "no such offset" (-1) with the end offset
  checkEq(await lookup(base + 60000), '5', 'offset for a timestamp after the last record (kafkajs: end offset)')
}

// ------------------------------------------------------------------ idempotence and transactions

async function idempotentProducer(env) {
  const topic = await createTopic(env, 'idempotent')
  const prod = kafka(env).producer({ idempotent: true, maxInFlightRequests: 1 })
  const apis = []
  prod.on(prod.events.REQUEST, ({ payload }) => apis.push(payload.apiName))
  await prod.connect()
  env.defer(() => prod.disconnect())
  for (const chunk of [0, 1, 2]) {
    await prod.send({ topic, acks: -1, messages: [...Array(10).keys()].map(i => message(`i${chunk * 10 + i}`)) })
  }
  check(apis.includes('InitProducerId'), `no InitProducerId request: ${[...new Set(apis)].join(',')}`)
  const got = await (await reader(env, topic)).waitFor(30)
  checkEq(got.map(r => [r.offset, r.value.toString()]), [...Array(30).keys()].map(i => [i, `i${i}`]),
    'records written exactly once, in order')
  // producer id and sequence numbers of the stored batches, read by compat/wire_probe.py
  const { sequence_problems: problems } = probe(env, topic)
  check(problems.length === 0, problems.join('; '))
}

async function txnProducer(env, transactionalId = unique('txn')) {
  return producer(env, { transactionalId, idempotent: true, maxInFlightRequests: 1 })
}

async function inTransaction(prod, topic, texts, outcome) {
  const txn = await prod.transaction()
  await txn.send({ topic, messages: texts.map(t => message(t)) })
  await (outcome === 'commit' ? txn.commit() : txn.abort())
}

async function txnCommit(env) {
  const topic = await createTopic(env, 'txn-commit')
  const texts = [0, 1, 2, 3, 4].map(i => `c${i}`)
  await inTransaction(await txnProducer(env), topic, texts, 'commit')
  checkEq(values(await (await reader(env, topic, { readUncommitted: false })).waitFor(5)), texts, 'committed records')
  const [offsets] = await topicOffsets(await admin(env), topic)
  checkEq(offsets.high, '6', 'end offset: 5 records + the COMMIT marker')
}

async function txnAbort(env) {
  const topic = await createTopic(env, 'txn-abort')
  const prod = await txnProducer(env)
  await inTransaction(prod, topic, Array(5).fill('aborted'), 'abort')
  await inTransaction(prod, topic, ['kept', 'kept'], 'commit')
  const r = await reader(env, topic, { readUncommitted: false })
  await r.waitFor(2)
  await sleep(1000)
  checkEq(values(r.records), ['kept', 'kept'], 'records a read_committed consumer got')
}

async function txnIsolation(env) {
  const topic = await createTopic(env, 'txn-iso')
  const prod = await txnProducer(env)
  await inTransaction(prod, topic, Array(3).fill('aborted'), 'abort')
  await inTransaction(prod, topic, ['committed', 'committed'], 'commit')
  const uncommitted = await reader(env, topic, { readUncommitted: true })
  const committed = await reader(env, topic, { readUncommitted: false })
  await uncommitted.waitFor(5)
  await committed.waitFor(2)
  await sleep(500)
  checkEq(values(uncommitted.records), [...Array(3).fill('aborted'), 'committed', 'committed'],
    'read_uncommitted records')
  checkEq(values(committed.records), ['committed', 'committed'], 'read_committed records')
}

async function txnOpenBlocks(env) {
  const topic = await createTopic(env, 'txn-open')
  const txn = await (await txnProducer(env)).transaction()
  await txn.send({ topic, messages: ['open0', 'open1', 'open2'].map(t => message(t)) })
  await (await producer(env)).send({ topic, messages: [message('after')] })
  const [offsets] = await topicOffsets(await admin(env), topic) // kafkajs lists offsets read_committed
  checkEq(offsets.high, '0', 'read_committed end offset (last stable offset)')
  const committed = await reader(env, topic, { readUncommitted: false })
  await committed.ready()
  await sleep(1500)
  checkEq(values(committed.records), [], 'records visible to read_committed during the open txn')
  const all = ['open0', 'open1', 'open2', 'after']
  checkEq(values(await (await reader(env, topic, { readUncommitted: true })).waitFor(4)), all,
    'read_uncommitted records during the open txn')
  await txn.commit()
  checkEq(values(await committed.waitFor(4)), all, 'read_committed records after the commit')
}

async function txnTimeout(env) {
  const topic = await createTopic(env, 'txn-timeout')
  const prod = await producer(env, {
    transactionalId: unique('txn-timeout'), idempotent: true, maxInFlightRequests: 1, transactionTimeout: 2000,
  })
  const txn = await prod.transaction()
  await txn.send({ topic, messages: [0, 1, 2].map(() => message('abandoned')) })
  await (await producer(env)).send({ topic, messages: [message('after')] })
  const r = await reader(env, topic, { readUncommitted: false })
  await r.waitFor(1, 20000) // only once the coordinator aborted the transaction
  await sleep(500)
  checkEq(values(r.records), ['after'], 'read_committed records after the timeout')
  const error = await txn.commit().then(() => null, e => e)
  check(error, 'commit of the timed-out transaction succeeded')
}

async function txnConsumeTransformProduce(env) {
  const source = await createTopic(env, 'ctp-in')
  const sink = await createTopic(env, 'ctp-out')
  const groupId = unique('g-ctp')
  await (await producer(env)).send({ topic: source, messages: [0, 1, 2, 3, 4].map(i => message(`word${i}`)) })
  const input = await reader(env, source, { groupId, readUncommitted: false })
  const got = await input.waitFor(5)
  const txn = await (await txnProducer(env)).transaction()
  await txn.send({ topic: sink, messages: got.map(r => message(r.value.toString().toUpperCase())) })
  await txn.sendOffsets({
    consumerGroupId: groupId,
    topics: [{ topic: source, partitions: [{ partition: 0, offset: String(got[4].offset + 1) }] }],
  })
  await txn.commit()
  checkEq(values(await (await reader(env, sink, { readUncommitted: false })).waitFor(5)),
    [0, 1, 2, 3, 4].map(i => `WORD${i}`), 'transformed records')
  const [committed] = await (await admin(env)).fetchOffsets({ groupId, topics: [source] })
  checkEq(committed.partitions.map(p => p.offset), ['5'], 'group offset committed by the transaction')
}

async function txnFencing(env) {
  const topic = await createTopic(env, 'txn-fence')
  const transactionalId = unique('txn-fenced')
  const old = await txnProducer(env, transactionalId)
  const zombie = await old.transaction()
  await zombie.send({ topic, messages: [message('zombie')] })
  const live = await (await txnProducer(env, transactionalId)).transaction() // bumps the epoch
  const error = await zombie.commit().then(() => null, e => e)
  check(error, 'the fenced producer committed')
  const types = errorTypes(error)
  check(types.some(t => /FENCED|INVALID_PRODUCER_EPOCH/.test(t)),
    `fenced producer failed with an unrelated error: ${types.join('/')}: ${error.message}`)
  await live.send({ topic, messages: [message('live')] })
  await live.commit()
  const r = await reader(env, topic, { readUncommitted: false })
  await r.waitFor(1)
  await sleep(500)
  checkEq(values(r.records), ['live'], 'records visible after fencing')
}

// ------------------------------------------------------------------ cluster

async function clusterFailover(env) {
  if (!env.clusterAdmin) {
    throw new Skip('kafkaish only: needs the simulated 3-broker cluster and its control plane ' +
      '(COMPAT_CLUSTER_ADMIN); the reference run is one Kafka node')
  }
  const topic = unique('cluster')
  const result = await runClusterChaos({ bootstrap: env.clusterBootstrap, adminUrl: env.clusterAdmin, topic,
    groupId: topic, clientId: 'compat-kafkajs',
    log: logLevel[(process.env.COMPAT_KAFKAJS_LOG_LEVEL || 'WARN').toUpperCase()] })
  const problems = chaosProblems(result)
  check(!problems.length, problems.slice(0, 3).join('; '))
}

// ------------------------------------------------------------------ admin

async function partitionCount(adm, topic) {
  const { topics } = await adm.fetchTopicMetadata({ topics: [topic] })
  return topics[0].partitions.length
}

async function adminTopics(env) {
  const adm = await admin(env)
  const one = unique('admin-a')
  const three = unique('admin-b')
  const created = await adm.createTopics({
    topics: [{ topic: one, numPartitions: 1 }, { topic: three, numPartitions: 3 }], waitForLeaders: true,
  })
  check(created, 'createTopics returned false')
  const names = await adm.listTopics()
  check(names.includes(one) && names.includes(three), 'created topics missing from listTopics')
  checkEq([await partitionCount(adm, one), await partitionCount(adm, three)], [1, 3], 'partition counts')
  await adm.deleteTopics({ topics: [one] })
  await waitUntil(async () => !(await adm.listTopics()).includes(one), 10000, 'the deleted topic to leave the metadata')
  check((await adm.listTopics()).includes(three), 'the other topic disappeared too')
}

async function adminTopicRecreate(env) {
  const topic = await createTopic(env, 'recreate')
  await (await producer(env)).send({ topic, messages: [0, 1, 2].map(() => message('old')) })
  const adm = await admin(env)
  await adm.deleteTopics({ topics: [topic] })
  await waitUntil(async () => !(await adm.listTopics()).includes(topic), 10000,
    'the deleted topic to leave the metadata')
  check(await adm.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), 'createTopics again')
  const [meta] = await (await producer(env)).send({ topic, messages: [message('new', { partition: 1 })] })
  checkEq([meta.partition, meta.baseOffset], [1, '0'], 'partition/offset of the first record after re-creation')
  const r = await reader(env, topic)
  await r.waitFor(1)
  await sleep(500)
  checkEq(values(r.records), ['new'], 'records of the re-created topic')
}

async function adminCreatePartitions(env) {
  const topic = await createTopic(env, 'parts')
  const adm = await admin(env)
  await adm.createPartitions({ topicPartitions: [{ topic, count: 3 }] })
  await waitUntil(async () => (await partitionCount(adm, topic)) === 3, 10000, '3 partitions in metadata')
  const [meta] = await (await producer(env)).send({ topic, messages: [message('p2', { partition: 2 })] })
  checkEq([meta.partition, meta.baseOffset], [2, '0'], 'produce to a new partition')
}

async function adminDescribeConfigs(env) {
  const overrides = { 'retention.ms': '123456', 'cleanup.policy': 'compact' }
  const topic = await createTopic(env, 'describe', { configs: overrides })
  const configs = await describeTopicConfigs(await admin(env), topic)
  checkEq(configs['retention.ms'] && configs['retention.ms'].configValue, '123456', 'retention.ms override')
  check(!configs['retention.ms'].isDefault, 'retention.ms override reported as default')
  checkEq(configs['cleanup.policy'] && configs['cleanup.policy'].configValue, 'compact', 'cleanup.policy override')
  check('max.message.bytes' in configs, `default max.message.bytes missing: ${Object.keys(configs).slice(0, 20)}`)
}

async function adminAlterConfigs(env) {
  const topic = await createTopic(env, 'alter', { configs: { 'retention.ms': '123456', 'cleanup.policy': 'compact' } })
  const adm = await admin(env)
  const { resources } = await adm.alterConfigs({
    validateOnly: false,
    resources: [{
      type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '654321' }],
    }],
  })
  checkEq(resources[0].errorCode, 0, 'alterConfigs error code')
  const configs = await describeTopicConfigs(adm, topic)
  checkEq(configs['retention.ms'].configValue, '654321', 'retention.ms after AlterConfigs')
  checkEq(configs['cleanup.policy'].configValue, 'delete', 'cleanup.policy not in the new set (replace semantics)')
}

async function adminIncrementalAlterConfigs() {
  throw new Skip('kafkajs 2.2.4 has no IncrementalAlterConfigs ' +
    '(listed in noImplementedRequestDefinitions, no admin method)')
}

async function adminDeleteRecords(env) {
  const topic = await createTopic(env, 'delrec')
  await (await producer(env)).send({ topic, messages: [...Array(10).keys()].map(i => message(`d${i}`)) })
  const adm = await admin(env)
  await adm.fetchTopicMetadata({ topics: [topic] }) // deleteTopicRecords needs the topic's metadata loaded first
  await adm.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
  const [offsets] = await topicOffsets(adm, topic)
  checkEq([offsets.low, offsets.high], ['4', '10'], 'low/high after deleteTopicRecords')
  checkEq(values(await (await reader(env, topic)).waitFor(1)), ['d4'], 'first record after deleteTopicRecords')
}

async function adminDescribeCluster(env) {
  const info = await (await admin(env)).describeCluster()
  check(info.brokers.length > 0, 'no brokers')
  const port = Number(env.bootstrap.split(':').pop())
  check(info.brokers.some(b => b.port === port), `bootstrap port not among brokers: ${plain(info.brokers)}`)
  check(info.brokers.some(b => b.nodeId === info.controller), `controller ${info.controller} is not a broker`)
  check(info.clusterId, 'empty cluster id')
}

// ------------------------------------------------------------------ errors

async function sasl(env) {
  const credentials = mechanism => ({ mechanism, username: env.saslUser, password: env.saslPassword })
  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
    const auth = credentials(mechanism)
    const topic = await createTopic(env, `sasl-${mechanism}`, { bootstrap: env.saslBootstrap, sasl: auth })
    await (await producer(env, {}, env.saslBootstrap, auth)).send({ topic, messages: [message(mechanism)] })
    const r = await reader(env, topic, { bootstrap: env.saslBootstrap, sasl: auth })
    checkEq(values(await r.waitFor(1)), [mechanism], `record produced and consumed over ${mechanism}`)
  }
  for (const mechanism of ['plain', 'scram-sha-256']) {
    const wrong = { ...credentials(mechanism), password: 'wrong' }
    const client = kafka(env, env.saslBootstrap, 'compat-kafkajs', wrong).admin()
    env.defer(() => client.disconnect())
    await expectRejection(client.connect(), 'KafkaJSSASLAuthenticationError',
      `${mechanism} login with a wrong password`)
  }
}

async function errorUnknownTopic(env) {
  const missing = unique('missing')
  const adm = await admin(env, env.strictBootstrap)
  await expectRejection(adm.fetchTopicMetadata({ topics: [missing] }), 'UNKNOWN_TOPIC_OR_PARTITION',
    'metadata for a missing topic')
  const prod = await producer(env, { allowAutoTopicCreation: false, retry: { retries: 1 } }, env.strictBootstrap)
  await expectRejection(prod.send({ topic: missing, messages: [message('x')] }), 'UNKNOWN_TOPIC_OR_PARTITION',
    'send to a missing topic')
  check(!(await adm.listTopics()).includes(missing), 'the topic was auto-created despite --no-auto-create-topics')
}

async function errorTopicExists(env) {
  const topic = await createTopic(env, 'exists')
  const again = await (await admin(env)).createTopics({ topics: [{ topic, numPartitions: 1 }] })
  // kafkajs resolves false exactly when every topic failed with TOPIC_ALREADY_EXISTS
  checkEq(again, false, 'second createTopics (false = TOPIC_ALREADY_EXISTS)')
}

async function tooLarge(env, topic, size, bootstrap) {
  const prod = await producer(env, { retry: { retries: 0 } }, bootstrap)
  await prod.send({ topic, messages: [message('small')] })
  await expectRejection(prod.send({ topic, messages: [{ value: crypto.randomBytes(size) }] }), 'MESSAGE_TOO_LARGE',
    `send of a ${size}-byte record`)
}

async function errorMessageTooLargeTopic(env) {
  const topic = await createTopic(env, 'too-large', { configs: { 'max.message.bytes': '10000' } })
  await tooLarge(env, topic, 20000, env.bootstrap)
}

async function errorMessageTooLargeBroker(env) {
  const topic = await createTopic(env, 'too-large-broker', { bootstrap: env.strictBootstrap })
  await tooLarge(env, topic, env.brokerMaxBytes + 50000, env.strictBootstrap)
}

async function errorCompactedKeyless(env) {
  const topic = await createTopic(env, 'compacted', { configs: { 'cleanup.policy': 'compact' } })
  const prod = await producer(env, { retry: { retries: 0 } })
  await prod.send({ topic, messages: [{ key: 'k', value: 'keyed' }] })
  await expectRejection(prod.send({ topic, messages: [{ value: 'keyless' }] }), 'INVALID_RECORD',
    'send of a keyless record to a compacted topic')
}

async function errorOffsetOutOfRange(env) {
  const topic = await createTopic(env, 'oor')
  await (await producer(env)).send({ topic, messages: [0, 1, 2].map(i => message(`x${i}`)) })
  const r = await reader(env, topic)
  await r.waitFor(3)
  r.records = []
  r.consumer.seek({ topic, partition: 0, offset: '50' })
  await waitUntil(() => env.logs.some(l => /offset out of range/i.test(l.message)), 10000,
    'kafkajs to report OFFSET_OUT_OF_RANGE')
  checkEq((await r.waitFor(3)).map(x => x.offset), [0, 1, 2], 'offsets after the reset to the earliest offset')
  env.note('kafkajs has no auto.offset.reset=none: the check sees OFFSET_OUT_OF_RANGE in kafkajs\'s ' +
    '"Offset out of range, resetting to default offset" report, then the reset to the earliest offset')
}

// ------------------------------------------------------------------ main

const SCENARIOS = {
  roundtrip,
  key_partitioning: keyPartitioning,
  bulk_fetch: bulkFetch,
  acks_zero: acksZero,
  log_append_time: logAppendTime,
  compression_gzip: compression('GZIP'),
  compression_snappy: compression('Snappy'),
  compression_lz4: compression('LZ4'),
  compression_zstd: compression('ZSTD'),
  group_rebalance: groupRebalance,
  group_failover: groupFailover,
  group_crash_failover: groupCrashFailover,
  group_static_member: groupStaticMember,
  group_consumer_protocol: groupConsumerProtocol,
  group_resume: groupResume,
  group_offsets_admin: groupOffsetsAdmin,
  group_admin: groupAdmin,
  replay_seek: replaySeek,
  replay_offsets: replayOffsets,
  replay_offsets_for_times: replayOffsetsForTimes,
  idempotent_producer: idempotentProducer,
  txn_commit: txnCommit,
  txn_abort: txnAbort,
  txn_isolation: txnIsolation,
  txn_open_blocks: txnOpenBlocks,
  txn_timeout: txnTimeout,
  txn_consume_transform_produce: txnConsumeTransformProduce,
  txn_fencing: txnFencing,
  cluster_failover: clusterFailover,
  admin_topics: adminTopics,
  admin_topic_recreate: adminTopicRecreate,
  admin_create_partitions: adminCreatePartitions,
  admin_describe_configs: adminDescribeConfigs,
  admin_alter_configs: adminAlterConfigs,
  admin_incremental_alter_configs: adminIncrementalAlterConfigs,
  admin_delete_records: adminDeleteRecords,
  admin_describe_cluster: adminDescribeCluster,
  sasl,
  error_unknown_topic: errorUnknownTopic,
  error_topic_exists: errorTopicExists,
  error_message_too_large_topic: errorMessageTooLargeTopic,
  error_message_too_large_broker: errorMessageTooLargeBroker,
  error_compacted_keyless: errorCompactedKeyless,
  error_offset_out_of_range: errorOffsetOutOfRange,
}

function scenarioNames() {
  return fs.readFileSync(SCENARIO_FILE, 'utf8').split('\n')
    .filter(line => line.trim() && !line.startsWith('#'))
    .map(line => line.split('|')[0].trim())
}

function argument(name, fallback) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}

async function main() {
  if (!process.env.COMPAT_BOOTSTRAP) {
    process.stderr.write('COMPAT_BOOTSTRAP is not set: run through `python compat/run.py --clients kafkajs`\n')
    process.exit(2)
  }
  const timeoutMs = Number(argument('--timeout', process.env.COMPAT_TIMEOUT || 30)) * 1000
  const only = (argument('--only', '') || '').split(',').filter(Boolean)
  await registerCodecs()
  const { version } = require('kafkajs/package.json')
  console.log(`VERSION kafkajs ${version}`)
  for (const name of only.length ? only : scenarioNames()) {
    const fn = SCENARIOS[name]
    const lines = fn ? await runOne(name, fn, timeoutMs) : [`FAIL ${name}: not implemented in the kafkajs runner`]
    for (const line of lines) console.log(line)
  }
}

main().then(() => process.exit(0), error => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
