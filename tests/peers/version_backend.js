// A minecraft-protocol backend of any version from 1.8 on, for the version matrix: players
// join (offline mode), each chat line is answered in the version's chat packet, a command
// (a "/" chat line before 1.19, chat_command after) is answered too, and what it sees is
// reported as JSON lines: the handshake's host (legacy forwarding) and, with
// MODERN_SECRET set, the velocity:player_info answer checked as Velocity's verifier does.
// It declares the commands /ping and /serverinfo: in a command tree from 1.13, and before
// as the answer to a tab completion of "/" plus a partial name.
// One process serves any number of them, one per port; every event names its port.
// /kickme kicks the player.
// Usage: node version_backend.js PORT:VERSION...
const crypto = require('crypto')
const mc = require('minecraft-protocol')
const nbt = require('prismarine-nbt')
const playLogin = require('./play_login')

const secret = process.env.MODERN_SECRET

// Velocity's verifier: HMAC-SHA256 over the payload first, then version, address, UUID, name.
function readVarint (buf, pos) {
  let value = 0
  for (let shift = 0; ; shift += 7) {
    const byte = buf[pos.at++]
    value |= (byte & 0x7f) << shift
    if (!(byte & 0x80)) return value
  }
}
function readString (buf, pos) {
  const size = readVarint(buf, pos)
  const text = buf.toString('utf8', pos.at, pos.at + size)
  pos.at += size
  return text
}
function verifyForwarding (data) {
  if (!data || data.length <= 32) return { valid: false }
  const signature = data.subarray(0, 32)
  const payload = data.subarray(32)
  const expected = crypto.createHmac('sha256', secret).update(payload).digest()
  if (!crypto.timingSafeEqual(signature, expected)) return { valid: false }
  const pos = { at: 0 }
  const forwardingVersion = readVarint(payload, pos)
  const address = readString(payload, pos)
  const hex = payload.toString('hex', pos.at, pos.at + 16)
  pos.at += 16
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  return { valid: true, version: forwardingVersion, address, uuid, name: readString(payload, pos) }
}

// minecraft-protocol writes Set Compression and Login Success right after beforeLogin,
// compresses its reads at once and (before 1.20.2) switches to play at once: all three are
// held back until the forwarding answer is in.
function askForwarding (client, say) {
  const write = client.write.bind(client)
  const held = []
  let threshold = null
  let state = null
  client.write = (name, params) => held.push([name, params])
  Object.defineProperty(client, 'compressionThreshold', { configurable: true, get: () => -2, set: (value) => { threshold = value } })
  Object.defineProperty(client, 'state', { configurable: true, get: () => 'login', set: (value) => { state = value } })
  write('login_plugin_request', { messageId: 1, channel: 'velocity:player_info', data: Buffer.from([1]) })
  client.once('login_plugin_response', (packet) => {
    const data = packet.data ? Buffer.from(packet.data) : null
    const verdict = verifyForwarding(data)
    say({ event: 'modern_forwarding', ...verdict })
    client.write = write
    delete client.compressionThreshold
    delete client.state
    if (!verdict.valid) {
      write('disconnect', { reason: JSON.stringify({ text: 'Unable to verify player details' }) })
      client.end()
      return
    }
    for (const [name, params] of held) {
      write(name, params)
      if (name === 'compress' && threshold !== null) client.compressionThreshold = threshold
      if (name === 'success' && state !== null) client.state = state
    }
  })
}

function serve (port, version) {
  const say = (event) => console.log(JSON.stringify({ port, ...event }))
  const options = { 'online-mode': false, port, host: '127.0.0.1', version, motd: 'version matrix' }
  if (secret) options.beforeLogin = (client) => askForwarding(client, say)
  const server = mc.createServer(options)
  const mcData = require('minecraft-data')(server.version)
  const nbtText = mcData.supportFeature('chatPacketsUseNbtComponents')
  const hasSystemChat = 'packet_system_chat' in mcData.protocol.play.toClient.types

  function textField (text) {
    return nbtText ? nbt.comp({ text: nbt.string(text) }) : JSON.stringify({ text })
  }

  // Each version's chat packet for a line the server writes: chat (with a position, and a
  // sender from 1.16) before 1.19, system_chat after (type in 1.19, isActionBar later).
  function tell (client, text) {
    if (hasSystemChat) client.write('system_chat', { content: textField(text), type: 1, isActionBar: false })
    else client.write('chat', { message: JSON.stringify({ text }), position: 1, sender: '00000000-0000-0000-0000-000000000000' })
  }

  function joinGame (client) {
    if (mcData.loginPacket) {
      playLogin(client, server, mcData)
      return
    }
    // minecraft-data has no loginPacket up to 1.13.2: the pre-1.14 Join Game written out.
    client.write('login', { entityId: client.id, gameMode: 0, dimension: 0, difficulty: 0, maxPlayers: server.maxPlayers, levelType: 'default', reducedDebugInfo: false })
  }

  // The backend's own commands, for completion (see the header).
  const COMMANDS = ['ping', 'serverinfo']
  const hasCommandTree = 'packet_declare_commands' in mcData.protocol.play.toClient.types
  function declareCommands (client) {
    const flags = (type, executable) => ({ unused: 0, allows_restricted: 0, has_custom_suggestions: 0, has_redirect_node: 0, has_command: executable ? 1 : 0, command_node_type: type })
    const nodes = [{ flags: flags(0, false), children: COMMANDS.map((_, i) => i + 1) }]
    for (const name of COMMANDS) nodes.push({ flags: flags(1, true), children: [], extraNodeData: { name } })
    client.write('declare_commands', { nodes, rootIndex: 0 })
  }
  function completeOld (client, packet) {
    say({ event: 'tab_complete', username: client.username, text: packet.text })
    const partial = packet.text.startsWith('/') && !packet.text.includes(' ') ? packet.text.slice(1) : null
    const matches = partial === null ? [] : COMMANDS.filter((name) => name.startsWith(partial)).map((name) => '/' + name)
    client.write('tab_complete', { matches })
  }

  function command (client, line) {
    say({ event: 'command', username: client.username, command: line })
    if (line === 'kickme') client.end('Kicked by the matrix backend')
    else tell(client, `backend ran /${line}`)
  }

  server.on('listening', () => say({ event: 'listening', version }))
  server.on('playerJoin', (client) => {
    say({ event: 'join', username: client.username, uuid: client.uuid, host: client.serverHost, protocol: client.protocolVersion })
    joinGame(client)
    client.write('position', { x: 0, y: 64, z: 0, yaw: 0, pitch: 0, flags: 0, teleportId: 1, dx: 0, dy: 0, dz: 0 })
    // mineflayer spawns on the first health above zero.
    client.write('update_health', { health: 20, food: 20, foodSaturation: 5 })
    if (hasCommandTree) declareCommands(client)
    else client.on('tab_complete', (packet) => completeOld(client, packet))
    client.on('chat', (packet) => {
      if (packet.message.startsWith('/')) return command(client, packet.message.slice(1))
      say({ event: 'chat', username: client.username, message: packet.message })
      tell(client, `backend heard: ${packet.message}`)
    })
    client.on('chat_message', (packet) => {
      say({ event: 'chat', username: client.username, message: packet.message })
      tell(client, `backend heard: ${packet.message}`)
    })
    client.on('chat_command', (packet) => command(client, packet.command))
    client.on('end', () => say({ event: 'leave', username: client.username }))
  })
  return server
}

const servers = process.argv.slice(2).map((arg) => {
  const [port, version] = arg.split(':')
  return serve(Number(port), version)
})
process.on('SIGTERM', () => { servers.forEach((server) => server.close()); process.exit(0) })
