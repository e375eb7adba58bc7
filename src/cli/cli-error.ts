/** Exit codes of `imagetune`, stable for scripts. */
export const EXIT = {
  OK: 0,
  /** The API answered with an error, or the watched job failed or was cancelled. */
  FAILED: 1,
  /** Bad command line: unknown command, missing argument, unreadable file. */
  USAGE: 2,
  /** The API could not be reached. */
  UNREACHABLE: 3,
} as const

/** An error the CLI reports as one line on stderr and an exit code, never as a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.USAGE)
