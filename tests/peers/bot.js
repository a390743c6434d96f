// A mineflayer bot for integration tests: joins, reports `spawn`, then quits.
// Usage: node bot.js HOST PORT VERSION NAME
const mineflayer = require('mineflayer')
const [host, port, version, username] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))
const bot = mineflayer.createBot({ host, port: Number(port), username, auth: 'offline', version })
bot.once('spawn', () => {
  say({ event: 'spawn', position: bot.entity.position })
  setTimeout(() => { bot.quit(); setTimeout(() => process.exit(0), 200) }, 300)
})
bot.on('kicked', (reason) => say({ event: 'kicked', reason: String(reason) }))
bot.on('error', (err) => say({ event: 'error', message: err.message }))
bot.on('end', (reason) => { say({ event: 'end', reason: String(reason) }) })
setTimeout(() => { say({ event: 'timeout' }); process.exit(2) }, Number(process.env.CLIENT_TIMEOUT_MS || 25000))
