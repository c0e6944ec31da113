// Starts PostgreSQL and Ceph RGW for a benchmark or a manual session, prints their settings as shell
// exports, and stops both on Ctrl-C:  pnpm exec tsx tests/services/src/cli.ts up
import { startCephRgw } from './ceph-rgw.js'
import { startPostgres } from './postgres.js'

const [command, bucket = 'agentmem'] = process.argv.slice(2)
if (command !== 'up') {
  process.stderr.write('usage: tsx tests/services/src/cli.ts up [BUCKET]\n')
  process.exit(2)
}

const [postgres, ceph] = await Promise.all([startPostgres(), startCephRgw()])
const vectorsUrl = `${await ceph.createBucket(bucket)}/store`
const env = { AGENTMEM_METADATA_URL: postgres.url, AGENTMEM_VECTORS_URL: vectorsUrl, ...ceph.env() }
process.stdout.write(
  `${Object.entries(env)
    .map(([name, value]) => `export ${name}=${value}`)
    .join('\n')}\n# PostgreSQL data: ${postgres.dir}; Ceph: ${ceph.dir}. Ctrl-C stops both and removes them.\n`,
)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await Promise.all([postgres.stop(), ceph.stop()])
    process.exit(0)
  })
}
setInterval(() => {}, 1 << 30)
