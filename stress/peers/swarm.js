// Many minecraft-protocol players in one node process, for the load run.
// Usage: node swarm.js HOST PORT VERSION COUNT DURATION_MS
// Each player joins (joins are spread over RAMP_MS), chats every CHAT_MS, and switches
// between the servers named in SERVERS (comma-separated) every SWITCH_MS with /server.
// A chat line goes out only when the player's earlier lines have all come back and no
// switch is under way, so every line sent must be echoed: anything missing is lost.
// SWITCH_MS stays above the limbo's 15 s keep-alive interval: each backend connection
// starts its own keep-alive clock, and minecraft-protocol's client drops a player that
// heard no keep-alive for 30 s, so hopping faster than every 15 s starves it.
// KEEPALIVE_TIMEOUT_MS (default 30000, the library's own) is how long a player waits for a
// keep-alive: the soak raises it, because a backend restart's fallback move restarts the
// keep-alive clock a second time within one hop (see docs/reliability.md).
// A line not back after LOST_AFTER_MS counts as lost and the player chats on (a backend
// killed mid-line takes that line with it); each lost line is reported with when it was
// sent and to which server, so the run can say why it was lost. One that comes back after
// all is reported 'late' and counted in the summary's late, not lost.
// One JSON line per event of interest, then a summary line per player and a final total.
const mc = require('minecraft-protocol')
const text = require('../../tests/peers/chat_text')

const [host, port, version, countArg, durationArg] = process.argv.slice(2)
const count = Number(countArg)
const duration = Number(durationArg)
const rampMs = Number(process.env.RAMP_MS || 10000)
const chatMs = Number(process.env.CHAT_MS || 2000)
const switchMs = Number(process.env.SWITCH_MS || 20000)
const servers = (process.env.SERVERS || 'lobby,game').split(',')
const prefix = process.env.NAME_PREFIX || 'Bot'
const lostAfterMs = Number(process.env.LOST_AFTER_MS || 10000)
const keepAliveTimeoutMs = Number(process.env.KEEPALIVE_TIMEOUT_MS || 30000)
const say = (event) => console.log(JSON.stringify(event))


const players = []
let stopping = false

function start (index) {
  const name = `${prefix}${index}`
  const p = { name, joined: false, joinMs: null, sent: 0, echoed: 0, lost: 0, outstanding: new Map(), givenUp: new Map(), late: 0, switches: 0, switchFailures: 0, switching: null, server: null, errors: [], ended: false, kicked: null }
  players.push(p)
  const began = Date.now()
  const client = mc.createClient({ host, port: Number(port), username: name, auth: 'offline', version, hideErrors: true, checkTimeoutInterval: keepAliveTimeoutMs })
  p.client = client
  client.on('login', () => {
    if (!p.joined) {
      p.joined = true
      p.joinMs = Date.now() - began
      say({ event: 'joined', name, ms: p.joinMs })
    }
  })
  client.on('system_chat', (packet) => {
    const line = text(packet.content)
    const welcome = /^Welcome to (\S+), /.exec(line)
    if (welcome) {
      p.server = welcome[1]
      if (p.switching && p.switching.to === p.server) {
        p.switches++
        p.switching = null
      }
      return
    }
    if (p.switching && line.startsWith('You are already connected')) { p.switching = null; return }
    const mine = line.startsWith(`<${name}> `) ? line.slice(name.length + 3) : null
    if (mine !== null && p.outstanding.has(mine)) {
      p.outstanding.delete(mine)
      p.echoed++
    } else if (mine !== null && p.givenUp.has(mine)) {
      // Counted lost, yet it came back: slow, not lost.
      const sent = p.givenUp.get(mine)
      p.givenUp.delete(mine)
      p.late++
      say({ event: 'late', name, line: mine, at: sent.at, server: sent.server, ms: Date.now() - sent.at })
    }
  })
  // The protocol state the player was in when it ended: a backend lost while the client is
  // still configuring with it (just after a move) cannot be fallen back from in play.
  client.on('state', (state) => { if (state !== 'handshaking') p.lastState = state })
  client.on('kick_disconnect', (packet) => { p.kicked = text(packet.reason) })
  client.on('disconnect', (packet) => { p.kicked = text(packet.reason) })
  client.on('error', (err) => { if (p.errors.length < 3) p.errors.push(err.message) })
  client.on('end', (reason) => {
    p.ended = true
    if (!stopping) say({ event: 'ended', name, reason: String(reason), kicked: p.kicked, errors: p.errors, state: p.lastState, at: Date.now() })
  })
  const chat = setInterval(() => {
    // In play only: a switch slower than the watchdog's 15 s leaves the client configuring,
    // and a chat packet written then is not a chat packet to anyone.
    if (stopping || !p.joined || p.ended || p.switching || p.outstanding.size || client.state !== 'play') return
    const line = `m${p.sent}-${name}`
    p.outstanding.set(line, { at: Date.now(), server: p.server })
    p.sent++
    client.chat(line)
  }, chatMs + Math.floor(Math.random() * 200))
  const hop = setInterval(() => {
    if (stopping || !p.joined || p.ended || p.switching || p.outstanding.size || !p.server) return
    const to = servers[(servers.indexOf(p.server) + 1) % servers.length]
    p.switching = { to, at: Date.now() }
    client.write('chat_command', { command: `server ${to}`, timestamp: BigInt(Date.now()), salt: 0n, argumentSignatures: [], messageCount: 0, acknowledged: Buffer.alloc(3), checksum: 0 })
  }, switchMs + Math.floor(Math.random() * 1000))
  p.timers = [chat, hop]
}

for (let i = 0; i < count; i++) setTimeout(() => start(i), Math.floor(i * rampMs / count))

const watchdog = setInterval(() => {
  const now = Date.now()
  for (const p of players) {
    if (p.switching && now - p.switching.at > 15000) { p.switchFailures++; p.switching = null }
    for (const [line, sent] of p.outstanding) {
      if (now - sent.at > lostAfterMs) { p.outstanding.delete(line); p.givenUp.set(line, sent); p.lost++; say({ event: 'lost', name: p.name, line, at: sent.at, server: sent.server }) }
    }
  }
}, 1000)

setTimeout(() => {
  stopping = true
  // Let the last lines come back before counting what is missing.
  setTimeout(() => {
    clearInterval(watchdog)
    const total = { event: 'summary', players: count, joined: 0, failedJoins: 0, sent: 0, echoed: 0, lost: 0, late: 0, switches: 0, switchFailures: 0, endedEarly: 0, joinMsMax: 0, joinMsAvg: 0, servers: {} }
    let joinSum = 0
    for (const p of players) {
      p.timers.forEach(clearInterval)
      total.sent += p.sent
      total.echoed += p.echoed
      total.lost += p.outstanding.size + p.lost - p.late
      total.late += p.late
      for (const [line, sent] of p.outstanding) say({ event: 'lost', name: p.name, line, at: sent.at, server: sent.server, atEnd: true })
      total.servers[p.server] = (total.servers[p.server] || 0) + 1
      total.switches += p.switches
      total.switchFailures += p.switchFailures
      if (p.joined) { total.joined++; joinSum += p.joinMs; total.joinMsMax = Math.max(total.joinMsMax, p.joinMs) } else total.failedJoins++
      if (p.ended) total.endedEarly++
      if (p.outstanding.size || p.lost || !p.joined || p.ended) say({ event: 'player_problem', name: p.name, joined: p.joined, lost: [...p.outstanding.keys()], ended: p.ended, kicked: p.kicked, errors: p.errors })
      p.client.end()
    }
    total.failedJoins += count - players.length
    total.joinMsAvg = total.joined ? Math.round(joinSum / total.joined) : 0
    say(total)
    setTimeout(() => process.exit(0), 500)
  }, 5000)
}, duration)
