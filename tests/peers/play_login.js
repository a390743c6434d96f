// The play-state login every test backend sends a joining player (1.20.5+ layouts).
module.exports = function playLogin (client, server, mcData) {
  client.write('login', {
    ...mcData.loginPacket,
    enforceSecureChat: false,
    entityId: client.id,
    hashedSeed: [0, 0],
    maxPlayers: server.maxPlayers,
    viewDistance: 10,
    reducedDebugInfo: false,
    enableRespawnScreen: true,
    isDebug: false,
    isFlat: false
  })
}
