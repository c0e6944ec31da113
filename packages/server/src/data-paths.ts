import { join } from 'node:path'

/** The server's files inside the data folder. */
export function dataPaths(data: string) {
  return { memory: join(data, 'memory'), keys: join(data, 'server', 'keys.db'), serverInfo: join(data, 'server', 'server.json') }
}

/** What a running server leaves in its data folder (`serverInfo`), so the CLI can talk to it instead of opening the locked store. */
export interface ServerInfo {
  url: string
  pid: number
}
