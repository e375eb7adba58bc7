/**
 * `imagetune`: the command line over the HTTP API (and nothing else), for people and scripts. Tables and results go
 * to stdout; progress bars and notes go to stderr, so `imagetune jobs ls > jobs.txt` stays clean.
 */
import { createApiClient, type ApiClientOptions } from './api-client.js'
import { CliError, EXIT, usageError } from './cli-error.js'
import { datasetsCommand } from './commands/datasets.js'
import { jobsCommand } from './commands/jobs.js'
import { modelsCommand } from './commands/models.js'
import { predictCommand } from './commands/predict.js'
import { keysCommand, projectsCommand, whoamiCommand } from './commands/projects.js'
import { trainCommand } from './commands/train.js'
import type { CommandContext } from './context.js'

const USAGE = `imagetune: train image classifiers on an imagetune service

  imagetune datasets upload <folder> [--name NAME]   zip an ImageFolder and upload it
  imagetune datasets ls | show <id>
  imagetune train --dataset ID [--epochs N] [--batch-size N] [--learning-rate X]
                  [--validation-split X] [--seed N] [--base ID|URL] [--watch]
  imagetune jobs ls [--limit N] | show <id> [--watch] | cancel <id>
  imagetune predict --model ID [--top K] <image>...
  imagetune models ls | show <id>
  imagetune whoami                                   the project and scopes of IMAGETUNE_API_KEY

Administration (an admin key from API_KEYS):
  imagetune projects ls | show <id> | create <name> | delete <id> | events <id> [--limit N] [--cursor C]
  imagetune projects quota <id> [--queued-jobs N] [--stored-bytes N] [--predict-per-min N] [--uploads-per-min N]
  imagetune keys ls <project> | create <project> --scopes train,predict [--name NAME] | revoke <project> <keyId>

Environment: IMAGETUNE_URL (default http://127.0.0.1:3000), IMAGETUNE_API_KEY (sent as a Bearer token).
Exit codes: 0 ok, 1 the API refused or the job failed, 2 bad usage, 3 API unreachable.`

const COMMANDS: Record<string, (ctx: CommandContext) => Promise<void>> = {
  datasets: datasetsCommand,
  train: trainCommand,
  jobs: jobsCommand,
  predict: predictCommand,
  models: modelsCommand,
  whoami: whoamiCommand,
  projects: projectsCommand,
  keys: keysCommand,
}

/** Runs one command line; resolves with the exit code. */
export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...args] = argv
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    // Asked for: stdout and success; missing: stderr and a usage error.
    ;(name ? process.stdout : process.stderr).write(`${USAGE}\n`)
    return name ? EXIT.OK : EXIT.USAGE
  }
  const connection: ApiClientOptions = { url: env.IMAGETUNE_URL || 'http://127.0.0.1:3000', apiKey: env.IMAGETUNE_API_KEY || undefined }
  try {
    const command = COMMANDS[name]
    if (!command) throw usageError(`unknown command "${name}"; try imagetune --help`)
    await command({ api: createApiClient(connection), connection, args, out: process.stdout, err: process.stderr })
    return EXIT.OK
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`imagetune: ${err.message}\n`)
      return err.exitCode
    }
    // parseArgs reports unknown or malformed options with these codes.
    const code = (err as { code?: string }).code
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`imagetune: ${(err as Error).message}\n`)
      return EXIT.USAGE
    }
    throw err
  }
}

process.exitCode = await run(process.argv.slice(2), process.env)
