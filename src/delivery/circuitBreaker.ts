/**
 * Per origin: after `failureThreshold` consecutive failed attempts, nothing is sent to it for
 * `cooldownMs`; then one probe goes out, and its outcome closes the circuit or opens it again.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;

  constructor(
    private readonly failureThreshold: number,
    private readonly cooldownMs: number,
  ) {}

  state(nowMs: number): CircuitState {
    if (this.failures < this.failureThreshold) return 'closed';
    return nowMs < this.openUntil ? 'open' : 'half-open';
  }

  /** Whether an attempt may go out now; in half-open state only one (the probe) may. */
  tryAcquire(nowMs: number): boolean {
    const state = this.state(nowMs);
    if (state === 'closed') return true;
    if (state === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** When a postponed attempt should look again. */
  retryAt(nowMs: number): number {
    return Math.max(this.openUntil, nowMs + 1000);
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
  }

  failure(nowMs: number): void {
    this.failures += 1;
    this.probing = false;
    if (this.failures >= this.failureThreshold) this.openUntil = nowMs + this.cooldownMs;
  }
}
