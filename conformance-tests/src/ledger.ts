// Exact accounting for a case that moves messages. Every message carries a unique id:
//   lost       = confirmed − received   (must be 0)
//   phantom    = received − attempted   (must be 0)
//   duplicates = deliveries beyond the first of each id (reported; each case states its bound)
// A publish that rejected is "unconfirmed", never "lost".

export interface LedgerSummary {
  attempted: number;
  confirmed: number;
  unconfirmed: number;
  received: number;
  lost: number;
  phantom: number;
  duplicates: number;
}

export class Ledger {
  readonly attempted = new Set<string>();
  readonly confirmed = new Set<string>();
  readonly rejected = new Map<string, string>();
  readonly received = new Map<string, number>();
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  attempt(id: string): void {
    this.attempted.add(id);
  }
  confirm(id: string): void {
    this.confirmed.add(id);
    this.wake();
  }
  /** Marks ids published and confirmed elsewhere (another ledger, a receipt) as expected here. */
  expect(ids: Iterable<string>): void {
    for (const id of ids) {
      this.attempted.add(id);
      this.confirmed.add(id);
    }
  }
  reject(id: string, code: string): void {
    this.rejected.set(id, code);
    this.wake();
  }
  receive(id: string): void {
    this.received.set(id, (this.received.get(id) ?? 0) + 1);
    this.wake();
  }

  /** Re-checks every waiter of until(): after each confirm, rejection and delivery. */
  private wake(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  /** Every confirmed id has been received at least once. */
  get complete(): boolean {
    for (const id of this.confirmed) if (!this.received.has(id)) return false;
    return true;
  }

  /** Resolves as soon as `check` holds (now, or after a confirm, rejection or delivery), or after timeoutMs: false then. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  summary(): LedgerSummary {
    let lost = 0;
    for (const id of this.confirmed) if (!this.received.has(id)) lost++;
    let phantom = 0;
    let duplicates = 0;
    for (const [id, n] of this.received) {
      if (!this.attempted.has(id)) phantom++;
      duplicates += n - 1;
    }
    return {
      attempted: this.attempted.size,
      confirmed: this.confirmed.size,
      unconfirmed: this.rejected.size,
      received: this.received.size,
      lost,
      phantom,
      duplicates,
    };
  }
}
