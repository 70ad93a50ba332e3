// Waiting for events, never for time: a condition re-checked on every event (an IPC message, a settled
// publish, a process exit), each with a deadline, and a gate opened once. Shared by the scenarios.

/** Conditions re-checked on every event, each with a deadline. A check that throws fails its wait. */
export class Conditions {
  private waiting: { check: () => boolean; settle: (error?: Error) => void }[] = [];

  notify(): void {
    for (const w of [...this.waiting]) {
      try {
        if (w.check()) w.settle();
      } catch (error) {
        w.settle(error as Error);
      }
    }
  }

  until(what: string, check: () => boolean, deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = {
        check,
        settle: (error?: Error) => {
          clearTimeout(timer);
          this.waiting = this.waiting.filter((w) => w !== entry);
          if (error) reject(error);
          else resolve();
        },
      };
      const timer = setTimeout(
        () => entry.settle(new Error(`gave up after ${deadlineMs / 1000} s waiting until ${what}`)),
        deadlineMs,
      );
      this.waiting.push(entry);
      this.notify();
    });
  }
}

export interface Deferred {
  promise: Promise<void>;
  open: () => void;
}
export function deferred(): Deferred {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}
