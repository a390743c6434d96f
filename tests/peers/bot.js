// A mineflayer bot for integration tests: joins, reports `spawn` and chat messages, then quits
// (LINGER_MS after spawning, 300 by default).
// Usage: node bot.js HOST PORT VERSION NAME
const mineflayer = require('mineflayer')
const [host, port, version, username] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))
const options = { host, port: Number(port), username, auth: 'offline', version }
// FAKE_HOST is the host the handshake names (a forced host), the socket still goes to HOST.
if (process.env.FAKE_HOST) options.fakeHost = process.env.FAKE_HOST
const bot = mineflayer.createBot(options)
bot.once('spawn', () => {
  say({ event: 'spawn', position: bot.entity.position })
  setTimeout(() => { bot.quit(); setTimeout(() => process.exit(0), 200) }, Number(process.env.LINGER_MS || 300))
})
bot.on('message', (message) => say({ event: 'message', text: message.toString() }))
bot.on('kicked', (reason) => say({ event: 'kicked', reason: typeof reason === 'string' ? reason : JSON.stringify(reason) }))
bot.on('error', (err) => say({ event: 'error', message: err.message }))
bot.on('end', (reason) => { say({ event: 'end', reason: String(reason) }) })
setTimeout(() => { say({ event: 'timeout' }); process.exit(2) }, Number(process.env.CLIENT_TIMEOUT_MS || 60000))
