import { pino, type Logger } from 'pino'

export type { Logger }

/** The part of a logger that a library-style module needs; Fastify's request and app loggers fit it. */
export type LogSink = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

/** One JSON logger per process; everything else takes a child of it. */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level })
}
