// A minecraft-protocol client for integration tests: joins, sends each chat line given
// (lines starting with "/" go as commands), waits for a system-chat answer to each, and
// reports every event as a JSON line.  Usage: node chat_client.js HOST PORT VERSION NAME LINE...
const mc = require('minecraft-protocol')
const text = require('./chat_text')
const clientOptions = require('./client_options')
const lineQueue = require('./line_queue')

const [host, port, version, username, ...lines] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))
const options = clientOptions(host, port, version, username)
// FAKE_HOST replaces the host field of the handshake (a Forge client's "host\0FML3\0").
if (process.env.FAKE_HOST) options.fakeHost = JSON.parse(process.env.FAKE_HOST)
// LOCAL_ADDRESS binds the client's socket to that source address (say 127.0.0.7).
if (process.env.LOCAL_ADDRESS) {
  options.stream = require('net').connect({ host, port: Number(port), localAddress: process.env.LOCAL_ADDRESS })
}
// KEEPALIVE_TIMEOUT_MS: how long the client waits for a keep-alive before giving up (30 s by default).
if (process.env.KEEPALIVE_TIMEOUT_MS) options.checkTimeoutInterval = Number(process.env.KEEPALIVE_TIMEOUT_MS)
const client = mc.createClient(options)
// LOGIN_PLUGIN_ANSWER (hex) answers every login plugin request with those bytes, reporting it
// (the client's own listener answers "not understood": it is replaced here, before any packet).
if (process.env.LOGIN_PLUGIN_ANSWER !== undefined) {
  client.removeAllListeners('login_plugin_request')
  client.on('login_plugin_request', (packet) => {
    say({ event: 'login_plugin_request', messageId: packet.messageId, channel: packet.channel, data: packet.data ? Buffer.from(packet.data).toString('hex') : '' })
    client.write('login_plugin_response', { messageId: packet.messageId, data: Buffer.from(process.env.LOGIN_PLUGIN_ANSWER, 'hex') })
  })
}


const script = lineQueue(client, lines, say, (line) => {
  if (line.startsWith('/')) client.write('chat_command', { command: line.slice(1), timestamp: BigInt(Date.now()), salt: 0n, argumentSignatures: [], messageCount: 0, acknowledged: Buffer.alloc(3), checksum: 0 })
  else client.chat(line)
})
const next = script.next
client.on('success', (packet) => say({ event: 'login_success', uuid: packet.uuid, username: packet.username, properties: packet.properties }))
let plays = 0
client.on('login', () => { say({ event: 'play' }); if (plays++ === 0) setTimeout(next, 200) })
client.on('system_chat', (packet) => { say({ event: 'system_chat', text: text(packet.content) }); setTimeout(next, 50) })
// REPORT_COMMANDS=1 reports the names under the root of each command tree received;
// TAB_COMPLETE="/text" asks for completions of that text once in play.
client.on('declare_commands', (packet) => {
  if (!process.env.REPORT_COMMANDS) return
  const root = packet.nodes[packet.rootIndex]
  say({ event: 'commands', root: root.children.map((i) => packet.nodes[i].extraNodeData.name) })
})
client.on('tab_complete', (packet) => say({ event: 'tab_complete', transactionId: packet.transactionId, start: packet.start, length: packet.length, matches: packet.matches.map((m) => m.match) }))
if (process.env.TAB_COMPLETE) client.once('login', () => client.write('tab_complete', { transactionId: 42, text: process.env.TAB_COMPLETE }))
// Transfers and cookies are reported; ANSWER_COOKIES=1 answers a cookie request with the
// value last stored under that key, as a real client does.
const jar = {}
client.on('transfer', (packet) => say({ event: 'transfer', host: packet.host, port: packet.port }))
client.on('store_cookie', (packet) => { jar[packet.key] = packet.value; say({ event: 'store_cookie', key: packet.key, value: Buffer.from(packet.value).toString('hex') }) })
client.on('cookie_request', (packet) => {
  say({ event: 'cookie_request', key: packet.cookie })
  if (process.env.ANSWER_COOKIES) client.write('cookie_response', { key: packet.cookie, value: jar[packet.cookie] })
})
// Plugin messages are reported by channel (a proxy's own channel must never show up here).
client.on('custom_payload', (packet) => say({ event: 'plugin_message', channel: packet.channel }))
client.on('keep_alive', () => say({ event: 'keep_alive' }))
client.on('kick_disconnect', (packet) => say({ event: 'kicked', reason: text(packet.reason) }))
client.on('disconnect', (packet) => say({ event: 'disconnected', reason: text(packet.reason) }))
client.on('error', (err) => say({ event: 'error', message: err.message }))
client.on('end', (reason) => { say({ event: 'end', reason: String(reason) }); process.exit(script.pending.length ? 1 : 0) })
setTimeout(() => { say({ event: 'timeout' }); process.exit(2) }, Number(process.env.CLIENT_TIMEOUT_MS || 60000))
