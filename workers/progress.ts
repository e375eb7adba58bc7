import type { EpochRecord, JobPhase, TrainProgress } from '../src/queue/jobs.js'

/** Percent the bar has reached when preparation (dataset read, base loaded) ends. */
const PREPARED = 2
/** The most of the bar extraction may fill before the cost of training is known. */
const EXTRACT_SHARE = 18
/**
 * Seconds an extraction must run before it earns its full share of the bar: features read from the cache finish
 * in a blink, and crediting them the whole share made the bar jump while nothing slow had happened yet.
 */
const EXTRACT_CREDIT_SECONDS = 5
/** Epoch records averaged for the seconds an epoch takes: recent ones, since fine-tuning epochs cost more. */
const RECENT_EPOCHS = 3
/** Evaluation and saving are about one more pass over the data; counted as one epoch. */
const TAIL_EPOCHS = 1

/**
 * Tracks a job's progress as the worker reports it. Percent never goes down (not even across attempts: pass the
 * last attempt's progress as `previous`), and the epoch history accumulates (a resumed attempt starts from the
 * checkpoint's).
 *
 * The ETA comes from rates measured per phase, never from the bar: while features are extracted it is the time
 * left for extraction (how long training takes is unknown until an epoch has run); from the first epoch on it is
 * the epochs left times the recent seconds per epoch, plus one epoch for evaluation and saving. It is null while
 * no rate is known. Once an epoch has run the bar is elapsed time over elapsed plus ETA.
 */
export function createProgressTracker(epochs: number, now: () => number = Date.now, previous?: Pick<TrainProgress, 'percent'>) {
  const started = now()
  const floor = previous?.percent ?? 0
  let state: TrainProgress = { phase: 'preparing', percent: floor, epoch: 0, epochs, etaSeconds: null, history: [] }
  let phaseStarted = started
  /** Epochs this attempt ran (a resumed history's are not counted: their time is not in `elapsed`). */
  let epochsRun = 0

  const secondsPerEpoch = (history: EpochRecord[]) => {
    const recent = history.slice(-RECENT_EPOCHS)
    return recent.length ? recent.reduce((sum, e) => sum + e.seconds, 0) / recent.length : null
  }

  return {
    /** `fraction` is how far into `phase` the job is, 0–1. */
    update(phase: JobPhase, fraction: number, epoch?: EpochRecord): TrainProgress {
      const at = now()
      if (phase !== state.phase) phaseStarted = at
      const clamped = Math.min(1, Math.max(0, fraction))
      const history = epoch ? [...state.history, epoch] : state.history
      const current = epoch ? epoch.epoch : state.epoch
      if (epoch) epochsRun += 1
      const elapsed = (at - started) / 1000
      const perEpoch = secondsPerEpoch(history)
      let etaSeconds: number | null = null
      let target = state.percent
      if (phase === 'done') {
        etaSeconds = 0
        target = 100
      } else if (phase === 'preparing') {
        target = PREPARED * clamped
      } else if (phase === 'extracting') {
        const inPhase = (at - phaseStarted) / 1000
        if (clamped > 0.02 && inPhase >= 1) etaSeconds = Math.round((inPhase * (1 - clamped)) / clamped)
        target = PREPARED + EXTRACT_SHARE * clamped * Math.min(1, inPhase / EXTRACT_CREDIT_SECONDS)
      } else if (perEpoch !== null && (epochsRun > 0 || phase !== 'training')) {
        const epochsLeft = phase === 'training' ? Math.max(0, epochs - current) : 0
        const tail = phase === 'training' ? TAIL_EPOCHS : phase === 'evaluating' ? TAIL_EPOCHS * (1 - clamped) : 0
        etaSeconds = Math.round(perEpoch * (epochsLeft + tail))
        // Before this attempt's first epoch its elapsed time holds no epoch, so it says nothing about the rest.
        if (elapsed > 0) target = 100 * (elapsed / (elapsed + etaSeconds))
      }
      const percent = Math.min(phase === 'done' ? 100 : 99, Math.max(state.percent, Math.round(target * 10) / 10))
      state = { ...state, phase, percent, epoch: current, epochs, etaSeconds, history }
      return state
    },
    /** This attempt continues after `epoch` of an earlier one, whose epochs are `history`. */
    resume(epoch: number, history: EpochRecord[]): void {
      state = { ...state, epoch, history, resumedFromEpoch: epoch }
    },
  }
}
