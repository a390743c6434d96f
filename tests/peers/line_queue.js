// The lines a test player says in turn: each is sent once the answer to the one before
// arrived (the caller calls next()), then "done" is reported and the player leaves.
module.exports = function lineQueue (client, lines, say, send) {
  const queue = { pending: lines.slice(), finished: false }
  queue.next = function next () {
    if (queue.pending.length === 0) {
      if (queue.finished) return
      queue.finished = true
      say({ event: 'done' })
      // LINGER_MS keeps the player online (still reporting) after its last line.
      setTimeout(() => { client.end(); setTimeout(() => process.exit(0), 100) }, Number(process.env.LINGER_MS || 0))
      return
    }
    const line = queue.pending.shift()
    say({ event: 'send', line })
    send(line)
  }
  return queue
}
