// Settle-once for drivers: the first settlement of a delivery claims it, any later one — and any settlement of a
// delivery that went stale (its channel, partition or lease is gone) — rejects with STALE_DELIVERY naming the
// message and why. Core settles each delivery once; this is the driver's own guard against a second settlement
// reaching the broker (a double ack that closes a channel, a commit past a message that is not done).
import { ErrorCode, LosslessError } from '../errors.js';

/** Where deliveries come from: one per driver subscription. */
export interface DeliverySource {
  readonly broker: string;
  readonly topic: string;
  readonly subscription: string;
}

/** A delivery as the guard sees it: its message id and whether a settlement claimed it. */
export interface Claimable {
  readonly id: string;
  settled: boolean;
}

/** Why a second settlement is refused. */
export const ALREADY_SETTLED = 'was already settled';

/** STALE_DELIVERY for message `messageId` of `source`: "<broker>: delivery of message <id> <why>". */
export function staleDelivery(source: DeliverySource, messageId: string, why: string): LosslessError {
  return new LosslessError(
    ErrorCode.STALE_DELIVERY,
    `${source.broker}: delivery of message ${messageId} ${why}`,
    {
      broker: source.broker,
      topic: source.topic,
      subscription: source.subscription,
      messageId,
    },
  );
}

/**
 * Claims `delivery` for its first settlement. Throws STALE_DELIVERY when `staleWhy` says why it went stale
 * (undefined: it is fresh) — the delivery is claimed all the same: the broker redelivers the message, this
 * delivery is done — or when it was claimed before.
 */
export function claimSettlement(source: DeliverySource, delivery: Claimable, staleWhy?: string): void {
  const again = delivery.settled;
  delivery.settled = true;
  if (staleWhy !== undefined) throw staleDelivery(source, delivery.id, staleWhy);
  if (again) throw staleDelivery(source, delivery.id, ALREADY_SETTLED);
}
