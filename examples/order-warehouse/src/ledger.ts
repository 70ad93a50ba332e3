// The warehouse's shipment ledger: one JSON line per event in a local file, appended before the message is
// acked. A shipment is recorded once per message id; a redelivery of a shipped message is recorded as a
// duplicate and not shipped again. The file is the truth the scenario counts from: it outlives every
// warehouse process, including the ones killed with SIGKILL (a completed write() is in the OS's hands).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export interface LedgerLine {
  kind: 'shipped' | 'duplicate';
  /** The message id: what the warehouse deduplicates by. */
  id: string;
  orderId: string;
  /** The warehouse process that wrote the line. */
  pid: number;
}

/** Reads every complete line of a ledger file (a line cut by a SIGKILL mid-write is skipped). */
export function readLedger(file: string): LedgerLine[] {
  if (!existsSync(file)) return [];
  const lines: LedgerLine[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (raw.trim() === '') continue;
    try {
      lines.push(JSON.parse(raw) as LedgerLine);
    } catch {
      // a partial last line: its shipment was not recorded, so the message was not acked and comes back
    }
  }
  return lines;
}

/** One warehouse process's view of the ledger. Not for concurrent writers in several processes. */
export class ShipmentLedger {
  private readonly shipped = new Set<string>();

  constructor(readonly file: string) {
    for (const line of readLedger(file)) if (line.kind === 'shipped') this.shipped.add(line.id);
  }

  /** Whether a message id was shipped already (by this process or an earlier one). */
  has(id: string): boolean {
    return this.shipped.has(id);
  }

  get size(): number {
    return this.shipped.size;
  }

  /** Records a shipment. Synchronous: the line is written before the handler returns and the message is acked. */
  recordShipment(id: string, orderId: string): void {
    this.append({ kind: 'shipped', id, orderId, pid: process.pid });
    this.shipped.add(id);
  }

  recordDuplicate(id: string, orderId: string): void {
    this.append({ kind: 'duplicate', id, orderId, pid: process.pid });
  }

  private append(line: LedgerLine): void {
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }
}
