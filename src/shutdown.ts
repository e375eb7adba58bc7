import closeWithGrace from 'close-with-grace'
import type { Logger } from './logger.js'

/**
 * What close-with-grace would also handle, left to Node's defaults as before: an uncaught error still crashes at
 * once (a running job is recovered as stalled), and the other signals keep their default action.
 */
const LEFT_TO_NODE: closeWithGrace.AllEvents[] = [
  'uncaughtException',
  'unhandledRejection',
  'beforeExit',
  'SIGHUP',
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGSEGV',
  'SIGUSR2',
]

/**
 * The one shutdown path of `npm start` and `npm run worker`: on the first SIGTERM or SIGINT, `close` runs once and
 * the process exits 0; past `deadlineMs` it exits 1 anyway (a job that does not let go is recovered as stalled by
 * another worker), and a second signal exits 1 at once.
 */
export function onShutdown(log: Logger, deadlineMs: number, close: () => Promise<void>): void {
  closeWithGrace(
    {
      delay: deadlineMs,
      logger: false,
      skip: LEFT_TO_NODE,
      onTimeout: () => log.error({ deadlineMs }, 'shutdown took too long; exiting'),
      onSecondSignal: (signal) => log.error({ signal }, 'second signal; exiting now'),
    },
    async ({ signal }) => {
      log.info({ signal }, 'shutting down')
      await close()
    },
  )
}
