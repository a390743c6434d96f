// Reads a server's status with minecraft-protocol's own ping, once per version given, and
// prints one JSON line per version: {"version", "status"} or {"version", "error"}.
// Usage: node ping.js HOST PORT VERSION...
const mc = require('minecraft-protocol')

const [host, port, ...versions] = process.argv.slice(2)

async function main () {
  for (const version of versions) {
    try {
      const status = await mc.ping({ host, port: Number(port), version, closeTimeout: 10000 })
      console.log(JSON.stringify({ version, status }))
    } catch (err) {
      console.log(JSON.stringify({ version, error: String(err && err.message) }))
    }
  }
}
main().then(() => process.exit(0))
