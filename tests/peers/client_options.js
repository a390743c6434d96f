// The createClient options of a test player: offline by default; with SESSION_SERVER, it
// authenticates against that test session server with a made-up access token and profile.
module.exports = function clientOptions (host, port, version, username) {
  const options = { host, port: Number(port), username, auth: 'offline', version }
  if (process.env.SESSION_SERVER) {
    options.sessionServer = process.env.SESSION_SERVER
    options.auth = (client, opts) => {
      client.username = username
      client.session = { accessToken: 'test-token', selectedProfile: { id: process.env.PROFILE_ID, name: username } }
      opts.haveCredentials = true
      opts.accessToken = 'test-token'
      opts.connect(client)
    }
  }
  return options
}
