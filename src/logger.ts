import { pino, type Logger } from 'pino'

export type { Logger }

/** One JSON logger per process; everything else takes a child of it. */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level })
}
