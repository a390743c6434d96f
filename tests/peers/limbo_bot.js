'use strict'
// A mineflayer bot that joins the limbo; exits 0 once it has spawned (which mineflayer only
// reports after the play login, a position and update_health > 0), 1 on error or timeout.
//
// Usage: node limbo_bot.js '{"port", "version", "username", "timeoutMs"}'

const mineflayer = require('mineflayer')

const options = JSON.parse(process.argv[2])
const say = (event, extra) => console.log(JSON.stringify({ event, ...extra }))
const bot = mineflayer.createBot({
  host: '127.0.0.1', port: options.port, username: options.username, version: options.version, auth: 'offline'
})
const timer = setTimeout(() => { say('error', { message: 'timeout' }); process.exit(1) }, options.timeoutMs || 20000)
bot.once('spawn', () => {
  say('spawn', { dimension: bot.game.dimension, minY: bot.game.minY, height: bot.game.height,
    position: [bot.entity.position.x, bot.entity.position.y, bot.entity.position.z] })
  clearTimeout(timer)
  bot.quit()
  setTimeout(() => process.exit(0), 100)
})
bot.on('kicked', (reason) => { say('kicked', { reason: String(reason) }); process.exit(2) })
bot.on('error', (err) => { say('error', { message: String(err) }); process.exit(1) })
