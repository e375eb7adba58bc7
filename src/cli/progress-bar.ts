/** Width of the bar itself, in characters. */
const BAR_WIDTH = 30

/** `[#########.....................]` for a fraction in [0, 1] (clamped). */
export function renderBar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}

/** `1h02m`, `3m05s`, `42s`; `?` when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export interface ProgressLine {
  /**
   * Shows `text` as the current state. Off a terminal a line is printed only when `key` changes (say, per epoch
   * rather than per percent). @defaultValue key = text
   */
  update(text: string, key?: string): void
  /** Leaves the last state on screen and moves to a new line. */
  done(): void
}

/**
 * One status line. On a terminal it is redrawn in place; otherwise (a pipe, a CI log) each distinct text is
 * printed once as a plain line, so logs stay readable and short.
 */
export function progressLine(stream: NodeJS.WriteStream): ProgressLine {
  let lastText = ''
  let lastKey: string | undefined
  let drawn = false
  return {
    update(text, key = text) {
      if (stream.isTTY) {
        if (text === lastText) return
        lastText = text
        stream.write(`\r${text}\x1b[K`)
        drawn = true
      } else if (key !== lastKey) {
        lastKey = key
        stream.write(`${text}\n`)
      }
    },
    done() {
      if (drawn) stream.write('\n')
      drawn = false
    },
  }
}
