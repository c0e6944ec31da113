import { randomBytes } from 'node:crypto'
import { AwsClient } from 'aws4fetch'
import { freePort, logTails, runScript, serviceDir, teardownOnExit } from './daemons.js'

export interface CephRgwOptions {
  /** Cluster folder (mon, OSD block file, logs), removed by stop() either way: it holds no data worth keeping. */
  dir?: string
}

export interface CephRgwService {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly dir: string
  /** Creates a bucket (idempotent) and returns `s3://name`. */
  createBucket(name: string): Promise<string>
  /** LanceDB's `connect(uri, { storageOptions })` for this endpoint and user. */
  storageOptions(): Record<string, string>
  /** The standard AWS_* variables for this endpoint and user (AWS SDKs, LanceDB's object store). */
  env(): Record<string, string>
  /** Stops the daemons and removes the folder. */
  stop(): Promise<void>
}

const region = 'us-east-1'

/**
 * A single-node Ceph on 127.0.0.1 serving S3 through RGW: one mon, one BlueStore OSD on a sparse
 * file, no mgr, auth none, and one S3 user with generated keys. Resolves once RGW answers S3.
 */
export async function startCephRgw(options: CephRgwOptions = {}): Promise<CephRgwService> {
  const { dir } = await serviceDir('ceph', options.dir)
  const teardown = teardownOnExit('ceph-rgw.sh', 'destroy', dir)
  const [port, monPort] = [await freePort(), await freePort()]
  // Test-only credentials for a throwaway cluster; radosgw-admin takes them on the command line.
  const accessKeyId = randomBytes(10).toString('hex').toUpperCase()
  const secretAccessKey = randomBytes(20).toString('hex')
  try {
    await runScript('ceph-rgw.sh', ['start', dir, String(port), String(monPort), accessKeyId, secretAccessKey], 240_000)
  } catch (error) {
    // A timeout kills the script before it can print the daemons' logs: add them here.
    const message = error instanceof Error ? error.message : String(error)
    const logs = message.includes('timed out') ? `\n${await logTails(dir)}` : ''
    await teardown.release()
    throw new Error(message + logs)
  }
  const endpoint = `http://127.0.0.1:${port}`
  const s3 = new AwsClient({ accessKeyId, secretAccessKey, region, service: 's3' })
  return {
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    dir,
    async createBucket(name) {
      const response = await s3.fetch(`${endpoint}/${name}`, { method: 'PUT' })
      const body = await response.text()
      if (!response.ok && !body.includes('BucketAlreadyOwnedByYou')) throw new Error(`create bucket ${name}: HTTP ${response.status} ${body}`)
      return `s3://${name}`
    },
    storageOptions: () => ({ endpoint, region, allow_http: 'true', aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey }),
    env: () => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_ALLOW_HTTP: 'true',
    }),
    stop: () => teardown.release(),
  }
}
