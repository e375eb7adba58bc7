import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/** The part of a logger that a library-style module needs; Fastify's request and app loggers fit it. */
export type LogSink = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

/**
 * One logger per process; everything else takes a child of it. JSON lines for log collectors; readable, coloured
 * lines when a person runs it in a terminal. pino-pretty runs as a synchronous stream here rather than as a pino
 * transport: a transport is a worker thread per process, and every training job's sandboxed child is a process.
 */
export function createLogger(level: string, name: string, terminal = process.stdout.isTTY === true): Logger {
  if (!terminal) return pino({ name, level })
  return pino({ name, level }, pretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
}
