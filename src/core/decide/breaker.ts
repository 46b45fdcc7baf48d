/**
 * The circuit breaker: when tmux itself keeps failing (not a missing session), stop launching for
 * a while instead of burning attempts on a broken server. Pure: the clock is given.
 */
export class Breaker {
  private failures = 0;
  private openUntil = 0;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number,
  ) {}

  succeeded(): void {
    this.failures = 0;
  }

  /** One more failure in a row; true when this one opens the breaker. */
  failed(): boolean {
    this.failures++;
    if (this.failures < this.threshold) return false;
    this.openUntil = this.now() + this.cooldownMs;
    return true;
  }

  get open(): boolean {
    return this.openUntil > this.now();
  }

  /** When it closes again (ms), or 0 when it is closed. */
  get closesAt(): number {
    return this.open ? this.openUntil : 0;
  }

  get cooldownSeconds(): number {
    return Math.round(this.cooldownMs / 1000);
  }
}
