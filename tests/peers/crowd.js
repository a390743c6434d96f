// Many minecraft-protocol players in one node process (a node per player would swamp a small
// machine): each joins, says one chat line, and reports when the backend's echo comes back;
// all stay online until the process is stopped.  Usage: node crowd.js HOST PORT VERSION PREFIX COUNT
// Every event is a JSON line with the player's name; "all_echoed" once every player has its echo.
const mc = require('minecraft-protocol')
const nbt = require('prismarine-nbt')

const [host, port, version, prefix, count] = process.argv.slice(2)
const say = (event) => console.log(JSON.stringify(event))
const echoed = new Set()
// STAGGER_MS spaces the connections out (the default opens them all at once).
const stagger = Number(process.env.STAGGER_MS || 0)

function text (content) {
  if (typeof content === 'string') {
    try { return JSON.stringify(JSON.parse(content)) } catch (e) { return content }
  }
  return JSON.stringify(nbt.simplify(content))
}

function join (n) {
  const username = `${prefix}${n}`
  const client = mc.createClient({ host, port: Number(port), username, auth: 'offline', version })
  let played = false
  client.on('login', () => {
    if (played) return
    played = true
    say({ event: 'play', username })
    setTimeout(() => client.chat(`hello from ${username}`), 100)
  })
  client.on('system_chat', (packet) => {
    if (!text(packet.content).includes(`hello from ${username}`) || echoed.has(username)) return
    echoed.add(username)
    say({ event: 'echoed', username })
    if (echoed.size === Number(count)) say({ event: 'all_echoed', count: echoed.size })
  })
  client.on('kick_disconnect', (packet) => say({ event: 'kicked', username, reason: text(packet.reason) }))
  client.on('error', (err) => say({ event: 'error', username, message: err.message }))
  client.on('end', (reason) => say({ event: 'end', username, reason: String(reason) }))
}

for (let n = 0; n < Number(count); n++) setTimeout(() => join(n), n * stagger)
say({ event: 'started', count: Number(count) })
setTimeout(() => { say({ event: 'timeout' }); process.exit(2) }, Number(process.env.CROWD_TIMEOUT_MS || 300000))
