'use strict'
// A group member to be killed with SIGKILL (group_crash_failover): it never leaves the group.
//
//   node crash_member.js BOOTSTRAP GROUP TOPIC
// Prints `state <partitions,comma-separated> <records consumed>` whenever either changes;
// commits every record.
const { Kafka, logLevel } = require('kafkajs')

const [bootstrap, groupId, topic] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'crash-member', brokers: [bootstrap], logLevel: logLevel.NOTHING })
const consumer = kafka.consumer({ groupId, heartbeatInterval: 200, sessionTimeout: 6000, maxWaitTimeInMs: 100 })
let assigned = []
let seen = 0
let last = ''
const report = () => {
  const line = `state ${assigned.join(',')} ${seen}`
  if (line !== last) {
    console.log(line)
    last = line
  }
}
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
  assigned = [...(payload.memberAssignment[topic] || [])].sort((a, b) => a - b)
  report()
})

async function main() {
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }])
      seen += 1
      report()
    },
  })
}

main().catch(error => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
