'use strict'
// Serialize and parse packets with minecraft-protocol, for the wire tests.
//
// Reads a JSON array of requests on stdin and writes a JSON array of results:
//   {"op": "serialize", "version", "state", "direction": "toServer"|"toClient", "name", "params"}
//     -> {"hex": "<packet id and fields>"}
//   {"op": "parse", "version", "state", "direction", "hex"}
//     -> {"name", "params"}
// JSON has no BigInt or Buffer, so {"$bigint": "123"} and {"$hex": "00ff"} stand for them
// in params, and come back the same way in parsed results.  A failing request gives
// {"error": "..."} without stopping the others.

const mc = require('minecraft-protocol')

function revive (key, value) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    if (typeof value.$bigint === 'string') return BigInt(value.$bigint)
    if (typeof value.$hex === 'string') return Buffer.from(value.$hex, 'hex')
  }
  return value
}

function replace (key, value) {
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
    return { $hex: Buffer.from(value.data).toString('hex') }
  }
  return value
}

function run (request) {
  // minecraft-protocol names the side that *sends* toClient packets the server.
  const isServer = request.direction === 'toClient'
  if (request.op === 'serialize') {
    const serializer = mc.createSerializer({ state: request.state, isServer, version: request.version })
    const buffer = serializer.createPacketBuffer({ name: request.name, params: request.params })
    return { hex: buffer.toString('hex') }
  }
  if (request.op === 'parse') {
    // The deserializer for the receiving side: a server parses toServer packets.
    const parser = mc.createDeserializer({
      state: request.state, isServer: !isServer, version: request.version, noErrorLogging: true
    })
    const packet = parser.parsePacketBuffer(Buffer.from(request.hex, 'hex'))
    return { name: packet.data.name, params: packet.data.params }
  }
  throw new Error(`unknown op ${request.op}`)
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => { input += chunk })
process.stdin.on('end', () => {
  const requests = JSON.parse(input, revive)
  const results = requests.map((request) => {
    try {
      return run(request)
    } catch (err) {
      return { error: String(err && err.message ? err.message : err) }
    }
  })
  process.stdout.write(JSON.stringify(results, replace))
})
