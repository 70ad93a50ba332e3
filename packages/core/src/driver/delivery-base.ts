// The message half of a driver's delivery: the six fields every driver copies from its broker's message, and the
// `settled` flag claimSettlement reads. A driver extends it with ack / nack / deadLetter (and extend).
import type { DriverDelivery } from './driver.js';

export abstract class DeliveryBase implements DriverDelivery {
  /** Claimed by the first settlement (see claimSettlement). */
  settled = false;

  constructor(
    readonly id: string,
    readonly key: string | undefined,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: Uint8Array,
    readonly timestamp: number,
    readonly attempt: number,
  ) {}

  abstract ack(): Promise<void>;
  abstract nack(options: { delayMs: number; error: string }): Promise<void>;
  abstract deadLetter(options: { error: string }): Promise<void>;
}
