import type { LiveProgress } from '../engine/index.js';
import { formatBytes, formatDuration } from '../shared/index.js';
import type { ProgressReporter } from '../tasks/index.js';

const WINDOW_MS = 5000;

/** Collects what a task reports and turns it into live progress with a rate and an ETA. */
export class ProgressTracker implements ProgressReporter {
  private done = 0;
  private total: number | null = null;
  private hasBytes = false;
  private text: string;
  private readonly samples: Array<[number, number]> = [];

  constructor(initial: string) {
    this.text = initial;
  }

  bytes(done: number, total: number | null = this.total): void {
    // The first report starts the clock at zero bytes, so the first snapshot already has a rate.
    if (!this.hasBytes) this.samples.push([Date.now(), 0]);
    this.hasBytes = true;
    this.done = done;
    this.total = total;
  }

  message(text: string): void {
    this.text = text;
  }

  /** Bytes per second over the last few seconds, from the samples taken at each call. */
  snapshot(now: number): LiveProgress {
    if (!this.hasBytes) return { message: this.text, progress: null, at: now };
    this.samples.push([now, this.done]);
    while (this.samples.length > 2 && now - (this.samples[0]?.[0] ?? now) > WINDOW_MS) this.samples.shift();
    const [t0, b0] = this.samples[0] ?? [now, this.done];
    const rate = now > t0 ? ((this.done - b0) * 1000) / (now - t0) : 0;
    const eta = this.total !== null && rate > 0 ? Math.max(0, (this.total - this.done) / rate) : undefined;
    const parts = [this.total === null ? formatBytes(this.done) : `${formatBytes(this.done)} of ${formatBytes(this.total)}`];
    if (rate > 0) parts.push(`${formatBytes(rate)}/s`);
    if (eta !== undefined) parts.push(`${formatDuration(eta)} left`);
    return {
      message: parts.join(', '),
      progress: { bytesDone: this.done, bytesTotal: this.total, ...(rate > 0 ? { rate: Math.round(rate) } : {}), ...(eta === undefined ? {} : { eta: Math.round(eta) }) },
      at: now,
    };
  }
}
