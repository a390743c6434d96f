'use strict'
// A minecraft-protocol client that joins the limbo and reports what happened.
//
// Usage: node limbo_client.js '<json options>'
//   {"port", "version", "username", "chat": "text to send once in play",
//    "forwarding": null | {"secret": "...", "uuid": "hex with dashes", "address": "..."},
//    "fakeHost": null | "host field to send instead of the address (legacy forwarding)",
//    "timeoutMs"}
// With "forwarding", the client answers the backend's velocity:player_info request the way
// a Velocity proxy does: HMAC-SHA256(secret, payload) || payload, payload = VarInt version,
// String address, UUID, String name, VarInt property count (0). Built here from the
// documented format, independently of the Python encoder.
// Prints one JSON object per line: {"event": "login" | "health" | "chat" | "kicked" | "end" |
// "error", ...}; exits 0 after "done" (chat echoed), 2 when kicked, 1 on error or timeout.

const crypto = require('crypto')
const mc = require('minecraft-protocol')

const options = JSON.parse(process.argv[2])
const say = (event, extra) => console.log(JSON.stringify({ event, ...extra }))

function varint (value) {
  const out = []
  value >>>= 0
  while (value >= 0x80) { out.push((value & 0x7f) | 0x80); value >>>= 7 }
  out.push(value)
  return Buffer.from(out)
}
const string = (text) => { const raw = Buffer.from(text, 'utf8'); return Buffer.concat([varint(raw.length), raw]) }

function forwardingData (fw, requested, username) {
  const version = Math.min(requested, 4) >= 4 ? 4 : 1
  const payload = Buffer.concat([
    varint(version), string(fw.address), Buffer.from(fw.uuid.replace(/-/g, ''), 'hex'),
    string(username), varint(0)
  ])
  const mac = crypto.createHmac('sha256', Buffer.from(fw.secret, 'utf8')).update(payload).digest()
  return Buffer.concat([mac, payload])
}

const client = mc.createClient({
  host: '127.0.0.1',
  port: options.port,
  username: options.username,
  version: options.version,
  auth: 'offline',
  ...(options.fakeHost ? { fakeHost: options.fakeHost } : {})
})
if (options.forwarding) {
  client.removeAllListeners('login_plugin_request')
  client.on('login_plugin_request', (packet) => {
    if (packet.channel !== 'velocity:player_info') {
      client.write('login_plugin_response', { messageId: packet.messageId })
      return
    }
    const requested = packet.data && packet.data.length === 1 ? packet.data[0] : 1
    say('plugin_request', { requested })
    client.write('login_plugin_response', {
      messageId: packet.messageId, data: forwardingData(options.forwarding, requested, options.username)
    })
  })
}

const timer = setTimeout(() => { say('error', { message: 'timeout' }); process.exit(1) }, options.timeoutMs || 15000)
const text = (value) => {
  if (typeof value === 'string') { try { return text(JSON.parse(value)) } catch (e) { return value } }
  if (value && value.type === 'compound') return text(require('prismarine-nbt').simplify(value))
  if (value && typeof value === 'object') return (value.text || '') + (value.extra || []).map(text).join('')
  return String(value)
}
let uuidSeen = null
client.on('success', (packet) => { uuidSeen = packet.uuid })
client.on('login', () => say('login', { uuid: uuidSeen }))
client.on('update_health', (packet) => {
  say('health', { health: packet.health })
  if (options.chat) client.chat(options.chat)
})
// Before 1.19 server messages come in 'chat' (a JSON string), from 1.19 in 'system_chat'.
const heard = (line) => {
  say('chat', { text: line })
  if (options.chat && line.includes(options.chat)) {
    say('done')
    clearTimeout(timer)
    client.end()
    setTimeout(() => process.exit(0), 100)
  }
}
client.on('system_chat', (packet) => heard(text(packet.content)))
client.on('chat', (packet) => heard(text(packet.message)))
const kicked = (packet) => {
  say('kicked', { reason: text(packet.reason) })
  clearTimeout(timer)
  setTimeout(() => process.exit(2), 100)
}
client.on('disconnect', kicked)
client.on('kick_disconnect', kicked)
client.on('error', (err) => { say('error', { message: String(err) }) })
client.on('end', (reason) => say('end', { reason: String(reason) }))
