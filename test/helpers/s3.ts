import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import S3rver from 's3rver'

/** s3rver's built-in account; its signature check is real, so wrong keys are refused as on S3. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }

export interface TestS3 {
  /** `http://127.0.0.1:PORT` */
  endpoint: string
  bucket: string
  /** A STORAGE_URL on this server under its own random prefix (or `prefix`), path-style. */
  storageUrl(prefix?: string): string
  close(): Promise<void>
}

/**
 * A real S3-protocol server (s3rver, in this process) on a random port with one bucket, its files in a temp
 * folder. Sets the AWS credential variables in this process, where the SDK's default chain (and every child
 * process started afterwards) finds them, the way an operator's environment would provide them.
 */
export async function startTestS3(bucket = 'imagetune-test'): Promise<TestS3> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'imagetune-s3-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] })
  const { port } = await server.run()
  Object.assign(process.env, S3RVER_CREDENTIALS, { AWS_REGION: 'us-east-1' })
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    bucket,
    storageUrl: (prefix = `t-${randomUUID().slice(0, 8)}`) => `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}&forcePathStyle=true&region=us-east-1`,
    close: async () => {
      await server.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
