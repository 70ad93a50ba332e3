// A driver's connection state for `Driver.health()`: the state, why it is not connected, since when — with
// secrets scrubbed from the reason, and 'closed' final. Every driver reports through one of these.
import type { Health, HealthState } from './driver.js';

export class HealthTracker {
  private current: HealthState = 'connecting';
  private why: string | undefined;
  private changed = Date.now();

  /** `redact` scrubs secrets from a reason (the driver's Secrets.text). */
  constructor(private readonly redact: (text: string) => string = (text) => text) {}

  get state(): HealthState {
    return this.current;
  }

  /** Why the driver is not connected (unredacted, for the driver's own errors, which it redacts itself). */
  get reason(): string | undefined {
    return this.why;
  }

  /**
   * Moves to `state` with `reason` (dropped when connected). `since` changes only with the state. Ignored once
   * closed. True when the state changed.
   */
  set(state: HealthState, reason?: string): boolean {
    if (this.current === 'closed') return false;
    const changed = state !== this.current;
    if (changed) this.changed = Date.now();
    this.current = state;
    this.why = state === 'connected' ? undefined : reason;
    return changed;
  }

  /** Something reached the broker. Cheap when already connected (called on every success). */
  connected(): void {
    if (this.current !== 'connected') this.set('connected');
  }

  /** Final: later set() calls are ignored. */
  close(): void {
    this.set('closed');
  }

  /** The state for health(): the reason without secrets. */
  snapshot(): Health {
    return this.why === undefined
      ? { state: this.current, since: this.changed }
      : { state: this.current, reason: this.redact(this.why), since: this.changed };
  }
}
