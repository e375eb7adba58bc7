import type { ApiClient, ApiClientOptions } from './api-client.js'

/** What every command gets: the API, where to print, and the raw arguments after its name. */
export interface CommandContext {
  api: ApiClient
  connection: ApiClientOptions
  args: string[]
  out: NodeJS.WriteStream
  err: NodeJS.WriteStream
}

export function print(ctx: CommandContext, text: string): void {
  ctx.out.write(`${text}\n`)
}
