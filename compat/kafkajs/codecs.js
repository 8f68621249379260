'use strict'
// Snappy, LZ4 and ZStandard codecs for kafkajs, which ships only GZIP.
//
// kafkajs takes a codec as `() => ({ compress(encoder), decompress(buffer) })`
// registered in CompressionCodecs. These adapters use pure-JavaScript / WASM
// packages from npm (no native build): snappyjs, lz4js (LZ4 frame format, as
// Kafka uses) and zstd-codec (Emscripten build of libzstd).
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const snappy = require('snappyjs')
const lz4 = require('lz4js')
const xxh32 = require('lz4js/xxh32.js')
const { ZstdCodec } = require('zstd-codec')

// Kafka's Java producer wraps snappy in xerial framing: an 8-byte magic, two
// int32 version fields, then [int32 length][raw snappy block] repeated.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const XERIAL_HEADER = 16

function snappyDecompress(buffer) {
  if (buffer.length < XERIAL_HEADER || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) {
    return Buffer.from(snappy.uncompress(buffer))
  }
  const blocks = []
  let pos = XERIAL_HEADER
  while (pos < buffer.length) {
    const size = buffer.readInt32BE(pos)
    pos += 4
    blocks.push(Buffer.from(snappy.uncompress(buffer.subarray(pos, pos + size))))
    pos += size
  }
  return Buffer.concat(blocks)
}

const SnappyCodec = () => ({
  async compress(encoder) {
    return Buffer.from(snappy.compress(encoder.buffer))
  },
  async decompress(buffer) {
    return snappyDecompress(buffer)
  },
})

// Kafka reads only LZ4 frames flagged "independent blocks" (Lz4BlockInputStream refuses
// others: "Dependent block stream is unsupported"); lz4js never sets the flag. A frame of
// one block (input up to lz4js's 4 MB block size) is independent whatever the flag says, so
// set it there and recompute the descriptor checksum (xxh32 of FLG+BD, second byte).
const LZ4_BLOCK_INDEPENDENCE = 0x20
const LZ4_ONE_BLOCK = 4 << 20

function markIndependent(frame, inputSize) {
  if (inputSize > LZ4_ONE_BLOCK) return frame
  frame[4] |= LZ4_BLOCK_INDEPENDENCE
  frame[6] = (xxh32.hash(0, frame, 4, 2) >> 8) & 0xff
  return frame
}

const LZ4Codec = () => ({
  async compress(encoder) {
    return markIndependent(Buffer.from(lz4.compress(encoder.buffer)), encoder.buffer.length)
  },
  async decompress(buffer) {
    return Buffer.from(lz4.decompress(buffer))
  },
})

async function zstdCodec() {
  const zstd = await new Promise(resolve => ZstdCodec.run(resolve))
  const streaming = new zstd.Streaming() // handles frames without a content size
  return () => ({
    async compress(encoder) {
      return Buffer.from(streaming.compress(encoder.buffer, 3))
    },
    async decompress(buffer) {
      return Buffer.from(streaming.decompress(buffer))
    },
  })
}

async function registerCodecs() {
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
  CompressionCodecs[CompressionTypes.LZ4] = LZ4Codec
  CompressionCodecs[CompressionTypes.ZSTD] = await zstdCodec()
}

module.exports = { registerCodecs }
