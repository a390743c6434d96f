// A minecraft-protocol server used as a backend in integration tests: it lets players
// join (offline mode), echoes their chat back as system chat, and reports what it sees
// as JSON lines on stdout.  Usage: node echo_server.js PORT VERSION
const mc = require('minecraft-protocol')
const playLogin = require('./play_login')
const nbt = require('prismarine-nbt')

const port = Number(process.argv[2])
const version = process.argv[3]
// SILENT_PLAY=1: once a player is in play the server sends nothing more, keep-alives and
// chat echoes included, but keeps the connection open (as a server stuck in a loop).
const silent = Boolean(process.env.SILENT_PLAY)
const server = mc.createServer({ 'online-mode': false, port, host: '127.0.0.1', version, motd: 'echo', keepAlive: !silent })
const mcData = require('minecraft-data')(server.version)
const say = (event) => console.log(JSON.stringify(event))

function chatText (text) {
  return mcData.supportFeature('chatPacketsUseNbtComponents')
    ? nbt.comp({ text: nbt.string(text) })
    : JSON.stringify({ text })
}

server.on('listening', () => say({ event: 'listening', port }))
// STALL_CONFIGURATION=1: a player's configuration never starts (as a server that stops
// answering right after the login), reported as 'configuring' once the player is in it.
if (process.env.STALL_CONFIGURATION) {
  server.on('login', (client) => {
    client.removeAllListeners('login_acknowledged')
    client.once('login_acknowledged', () => say({ event: 'configuring', username: client.username }))
  })
}
server.on('playerJoin', (client) => {
  say({ event: 'join', username: client.username, uuid: client.uuid })
  playLogin(client, server, mcData)
  // A small command tree of the backend's own: /echo <n> and a /server the proxy replaces.
  const flags = (type, executable) => ({ unused: 0, allows_restricted: 0, has_custom_suggestions: 0, has_redirect_node: 0, has_command: executable ? 1 : 0, command_node_type: type })
  client.write('declare_commands', {
    nodes: [
      { flags: flags(0, false), children: [1, 3] },
      { flags: flags(1, false), children: [2], extraNodeData: { name: 'echo' } },
      { flags: flags(2, true), children: [], extraNodeData: { name: 'n', parser: 'brigadier:integer', properties: { flags: { unused: 0, max_present: 1, min_present: 1 }, min: 0, max: 9 } } },
      { flags: flags(1, true), children: [], extraNodeData: { name: 'server' } }
    ],
    rootIndex: 0
  })
  client.write('position', { x: 0, y: 64, z: 0, yaw: 0, pitch: 0, flags: 0, teleportId: 1, dx: 0, dy: 0, dz: 0 })
  client.write('update_health', { health: 20, food: 20, foodSaturation: 5 })
  client.on('chat_message', (packet) => {
    say({ event: 'chat', username: client.username, message: packet.message })
    if (silent) return
    client.write('system_chat', { content: chatText(`echo ${port}: ${packet.message}`), isActionBar: false })
  })
  client.on('chat_command', (packet) => {
    say({ event: 'command', username: client.username, command: packet.command })
    if (packet.command === 'kickme') client.end('Kicked by the echo server')
    if (packet.command === 'cookie') {
      client.write('store_cookie', { key: 'echo:jar', value: Buffer.from('c00c1e', 'hex') })
      client.write('cookie_request', { cookie: 'echo:jar' })
    }
  })
  client.on('cookie_response', (packet) => say({ event: 'cookie_response', key: packet.key, value: packet.value ? Buffer.from(packet.value).toString('hex') : null }))
  client.on('end', () => say({ event: 'leave', username: client.username }))
})
process.on('SIGTERM', () => { server.close(); process.exit(0) })
