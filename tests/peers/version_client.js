// A minecraft-protocol client of any version from 1.8 on, for the version matrix: it joins,
// then sends each line given in turn (client.chat: a "/" line is a command, sent as the
// version sends commands), waiting for a chat answer to each before the next, and reports
// every event as a JSON line.  A line "tab:TEXT" completes TEXT as the version's client
// does: before 1.13 it asks the server (tab_complete) and waits for the list; from 1.13 it
// completes the command name from the command tree the server declared.  The matches are
// reported sorted as a "completions" event.
// Usage: node version_client.js HOST PORT VERSION NAME LINE...
const mc = require('minecraft-protocol')
const text = require('./chat_text')
const clientOptions = require('./client_options')
const lineQueue = require('./line_queue')

const [host, port, version, username, ...lines] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))
const options = clientOptions(host, port, version, username)
// FAKE_HOST is the host the handshake names (a forced host), the socket still goes to HOST.
if (process.env.FAKE_HOST) options.fakeHost = process.env.FAKE_HOST
const client = mc.createClient(options)


const script = lineQueue(client, lines, say, (line) => line.startsWith('tab:') ? complete(line.slice(4)) : client.chat(line))
const next = script.next

// Tab completion of a command's name, as each generation of client does it.
const hasCommandTree = 'packet_declare_commands' in require('minecraft-data')(version).protocol.play.toClient.types
let rootNames = []
let awaitingMatches = false
function completed (matches) {
  say({ event: 'completions', matches: matches.slice().sort() })
  setTimeout(next, 50)
}
function complete (text) {
  if (hasCommandTree) {
    const partial = text.slice(1)
    return completed(rootNames.filter((name) => name.startsWith(partial)).map((name) => '/' + name))
  }
  awaitingMatches = true
  client.write('tab_complete', { text, assumeCommand: false, lookedAtBlock: undefined, block: undefined })
}
client.on('declare_commands', (packet) => {
  rootNames = packet.nodes[packet.rootIndex].children.map((i) => packet.nodes[i].extraNodeData.name)
  say({ event: 'commands', root: rootNames })
})
client.on('tab_complete', (packet) => {
  if (!awaitingMatches) return
  awaitingMatches = false
  completed(packet.matches.map((match) => typeof match === 'string' ? match : match.match))
})
function heard (packetText) {
  say({ event: 'chat', text: packetText })
  setTimeout(next, 50)
}
client.on('success', (packet) => say({ event: 'login_success', uuid: packet.uuid, username: packet.username }))
let plays = 0
client.on('login', () => { say({ event: 'play' }); if (plays++ === 0) setTimeout(next, 200) })
client.on('respawn', () => say({ event: 'respawn' }))
client.on('chat', (packet) => heard(text(packet.message)))
client.on('system_chat', (packet) => heard(text(packet.content)))
client.on('kick_disconnect', (packet) => say({ event: 'kicked', reason: text(packet.reason) }))
client.on('disconnect', (packet) => say({ event: 'disconnected', reason: text(packet.reason) }))
client.on('error', (err) => say({ event: 'error', message: err.message }))
client.on('end', (reason) => { say({ event: 'end', reason: String(reason) }); process.exit(script.pending.length || !script.finished ? 1 : 0) })
setTimeout(() => { say({ event: 'timeout' }); process.exit(2) }, Number(process.env.CLIENT_TIMEOUT_MS || 30000))
