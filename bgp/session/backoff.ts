// Exponential backoff with jitter for connection retries: a peer that keeps refusing is retried less and less
// often (up to maxMs), and many sessions that failed together do not retry in lock step.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier?: number;
  /** Fraction of the delay randomised either way (0.2: ±20 %). */
  jitter?: number;
}

export class Backoff {
  private nextMs: number;

  constructor(private readonly options: BackoffOptions) {
    this.nextMs = options.initialMs;
  }

  /** The delay before the next attempt; each call lengthens the one after. */
  next(): number {
    const base = this.nextMs;
    this.nextMs = Math.min(this.options.maxMs, base * (this.options.multiplier ?? 1.6));
    const jitter = this.options.jitter ?? 0.2;
    return Math.round(base * (1 - jitter + Math.random() * 2 * jitter));
  }

  /** After a success: start again from the initial delay. */
  reset(): void {
    this.nextMs = this.options.initialMs;
  }
}
