// A mineflayer bot that moves servers: it spawns, sends "/server TARGET", waits to spawn
// again in the new server's world, says LINE there and quits, reporting every step.
// Usage: node switch_bot.js HOST PORT VERSION NAME TARGET LINE
const mineflayer = require('mineflayer')
const [host, port, version, username, target, line] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))
const options = { host, port: Number(port), username, auth: 'offline', version }
if (process.env.FAKE_HOST) options.fakeHost = process.env.FAKE_HOST
const bot = mineflayer.createBot(options)
let spawns = 0
bot._client.on('login', (packet) => say({ event: 'login', entityId: packet.entityId }))
bot._client.on('respawn', () => say({ event: 'respawn' }))
bot.on('spawn', () => {
  spawns += 1
  say({ event: 'spawn', count: spawns, entityId: bot.entity.id, game: bot.game.dimension })
  if (spawns === 1) setTimeout(() => bot.chat(`/server ${target}`), 300)
})
bot.on('message', (message) => {
  const text = message.toString()
  say({ event: 'message', text })
  if (text === `You are now connected to ${target}.`) {
    bot.chat(line)
    setTimeout(() => { bot.quit(); setTimeout(() => process.exit(0), 200) }, 500)
  }
})
bot.on('kicked', (reason) => say({ event: 'kicked', reason: String(reason) }))
bot.on('error', (err) => say({ event: 'error', message: err.message }))
bot.on('end', (reason) => { say({ event: 'end', reason: String(reason) }) })
setTimeout(() => { say({ event: 'timeout' }); process.exit(2) }, Number(process.env.CLIENT_TIMEOUT_MS || 60000))
