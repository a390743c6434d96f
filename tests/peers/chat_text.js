// The plain text of a chat component as a client receives it: a JSON string before
// 1.20.3, NBT from it.
const nbt = require('prismarine-nbt')

function flatten (c) {
  if (typeof c === 'string') return c
  if (Array.isArray(c)) return c.map(flatten).join('')
  let out = c.text || c[''] || ''
  if (c.extra) out += c.extra.map(flatten).join('')
  return out
}

module.exports = function text (content) {
  if (typeof content === 'string') {
    try { return flatten(JSON.parse(content)) } catch (e) { return content }
  }
  return flatten(nbt.simplify(content))
}
