// A minecraft-protocol backend whose plugin speaks the BungeeCord channel: once the player
// named TRIGGER is in play it sends each request given (hex payloads, in order) on
// CHANNEL, and reports every plugin message any player's connection brings back, as JSON
// lines on stdout.  Usage: node bungee_backend.js PORT VERSION TRIGGER CHANNEL HEX...
const mc = require('minecraft-protocol')
const playLogin = require('./play_login')

const [port, version, trigger, channel, ...requests] = process.argv.slice(2)
const server = mc.createServer({ 'online-mode': false, port: Number(port), host: '127.0.0.1', version, motd: 'bungee' })
const mcData = require('minecraft-data')(server.version)
const say = (event) => console.log(JSON.stringify(event))

server.on('listening', () => say({ event: 'listening', port: Number(port) }))
server.on('playerJoin', (client) => {
  say({ event: 'join', username: client.username })
  playLogin(client, server, mcData)
  client.write('position', { x: 0, y: 64, z: 0, yaw: 0, pitch: 0, flags: 0, teleportId: 1, dx: 0, dy: 0, dz: 0 })
  client.on('custom_payload', (packet) => {
    if (packet.channel.startsWith('minecraft:')) return
    say({ event: 'plugin_message', username: client.username, channel: packet.channel, data: Buffer.from(packet.data).toString('hex') })
  })
  client.on('end', () => say({ event: 'leave', username: client.username }))
  if (client.username === trigger) {
    setTimeout(() => {
      for (const hex of requests) client.write('custom_payload', { channel, data: Buffer.from(hex, 'hex') })
      say({ event: 'sent', count: requests.length })
    }, 300)
  }
})
process.on('SIGTERM', () => { server.close(); process.exit(0) })
