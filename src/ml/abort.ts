/** The error a cancelled ml/ operation rejects with: name 'AbortError', the signal's reason as `cause`. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  const err = new Error(reason instanceof Error ? reason.message : 'the operation was aborted', { cause: reason })
  err.name = 'AbortError'
  return err
}
