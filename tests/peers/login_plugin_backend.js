// A minecraft-protocol backend that, like a Forge server, holds each login until the client
// has answered a login plugin request of its own (channel, payload from the command line),
// reports the answer as a JSON line, then lets the player join.
// Usage: node login_plugin_backend.js PORT VERSION CHANNEL HEX
const mc = require('minecraft-protocol')
const playLogin = require('./play_login')

const [port, version, channel, hex] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))

// minecraft-protocol writes Set Compression and Login Success right after beforeLogin and
// compresses its reads at once: both are held back here until the answer is in.
function holdLogin (client) {
  const write = client.write.bind(client)
  const held = []
  let threshold = null
  client.write = (name, params) => held.push([name, params])
  Object.defineProperty(client, 'compressionThreshold', { configurable: true, get: () => -2, set: (value) => { threshold = value } })
  write('login_plugin_request', { messageId: 7, channel, data: Buffer.from(hex, 'hex') })
  client.once('login_plugin_response', (packet) => {
    say({ event: 'login_plugin_response', messageId: packet.messageId, data: packet.data ? Buffer.from(packet.data).toString('hex') : null })
    client.write = write
    delete client.compressionThreshold
    for (const [name, params] of held) {
      write(name, params)
      if (name === 'compress' && threshold !== null) client.compressionThreshold = threshold
    }
  })
}

const server = mc.createServer({ 'online-mode': false, port: Number(port), host: '127.0.0.1', version, motd: 'forge-like', beforeLogin: holdLogin })
const mcData = require('minecraft-data')(server.version)
server.on('listening', () => say({ event: 'listening', port: Number(port) }))
server.on('playerJoin', (client) => {
  say({ event: 'join', username: client.username })
  playLogin(client, server, mcData)
  client.write('position', { x: 0, y: 64, z: 0, yaw: 0, pitch: 0, flags: 0, teleportId: 1, dx: 0, dy: 0, dz: 0 })
})
process.on('SIGTERM', () => { server.close(); process.exit(0) })
