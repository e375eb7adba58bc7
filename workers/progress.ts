import type { EpochRecord, JobPhase, TrainProgress } from '../src/queue/jobs.js'

/** Share of the whole job each phase ends at, in percent; training dominates, extraction is next. */
const PHASE_END: Record<JobPhase, number> = {
  queued: 0,
  preparing: 2,
  extracting: 40,
  training: 90,
  evaluating: 94,
  saving: 98,
  done: 100,
}
const PHASE_START: Record<JobPhase, number> = {
  queued: 0,
  preparing: 0,
  extracting: 2,
  training: 40,
  evaluating: 90,
  saving: 94,
  done: 100,
}

/**
 * Tracks a job's progress as the worker reports it: percent never goes down (not even across attempts: pass the
 * last attempt's progress as `previous`), the ETA is this attempt's elapsed time scaled by what is left, and the
 * epoch history accumulates (a resumed attempt starts from the checkpoint's).
 */
export function createProgressTracker(epochs: number, now: () => number = Date.now, previous?: Pick<TrainProgress, 'percent'>) {
  const started = now()
  const floor = previous?.percent ?? 0
  let state: TrainProgress = { phase: 'preparing', percent: floor, epoch: 0, epochs, etaSeconds: null, history: [] }

  return {
    /** `fraction` is how far into `phase` the job is, 0–1. */
    update(phase: JobPhase, fraction: number, epoch?: EpochRecord): TrainProgress {
      const clamped = Math.min(1, Math.max(0, fraction))
      const target = PHASE_START[phase] + (PHASE_END[phase] - PHASE_START[phase]) * clamped
      const percent = Math.max(state.percent, Math.round(target * 10) / 10)
      const elapsed = (now() - started) / 1000
      const etaSeconds = percent >= 100 ? 0 : percent > floor ? Math.round((elapsed * (100 - percent)) / (percent - floor)) : null
      state = {
        ...state,
        phase,
        percent,
        epoch: epoch ? epoch.epoch : state.epoch,
        epochs,
        etaSeconds,
        history: epoch ? [...state.history, epoch] : state.history,
      }
      return state
    },
    /** This attempt continues after `epoch` of an earlier one, whose epochs are `history`. */
    resume(epoch: number, history: EpochRecord[]): void {
      state = { ...state, epoch, history, resumedFromEpoch: epoch }
    },
  }
}
