// The raw side's RocketMQ consumer loop, shared by the main bench (rocketmq.ts), the curves' consumers
// (curves-consumer.ts) and the failover consumer (failover-consumer.ts). Only the client is imported: the child
// processes that use it start as fast as they can.
import type { MessageView, SimpleConsumer } from 'rocketmq-client-nodejs';

/** The proxy caps one receive at 32 messages. */
export const RECEIVE_MAX = 32;
/** Invisible time of a received message, as the driver's default. */
export const INVISIBLE_MS = 15_000;

export interface ReceiveLoop {
  /** Settles when the loop has stopped; rejects when a receive failed (unless `retryReceive`). */
  readonly finished: Promise<void>;
  /** Ends the loop after its receive in flight (the consumer's shutdown ends that one sooner). */
  stop(): void;
}

/**
 * As the driver consumes: at most `prefetch` messages received and not yet acked, each acked right after
 * `handle` resolved; `onAcked` runs once the broker answered the ack. A handler or ack that fails leaves its
 * message unacked (it returns after its invisible time). `retryReceive`: a failed receive (a proxy hiccup)
 * is tried again instead of ending the loop.
 */
export function receiveLoop(
  consumer: SimpleConsumer,
  prefetch: number,
  handle: (view: MessageView) => unknown,
  options: { onAcked?: () => void; retryReceive?: boolean } = {},
): ReceiveLoop {
  let stopped = false;
  let outstanding = 0;
  let wake: (() => void) | undefined;
  const woken = () => {
    wake?.();
    wake = undefined;
  };
  const finished = (async () => {
    while (!stopped) {
      if (outstanding >= prefetch) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      let views: MessageView[];
      try {
        views = await consumer.receive(Math.min(RECEIVE_MAX, prefetch - outstanding), INVISIBLE_MS);
      } catch (error) {
        if (options.retryReceive && !stopped) continue; // the proxy's long poll paces the retries
        throw error;
      }
      for (const view of views) {
        outstanding++;
        void Promise.resolve()
          .then(() => handle(view))
          .then(() => consumer.ack(view))
          .then(() => options.onAcked?.())
          .catch(() => {})
          .finally(() => {
            outstanding--;
            woken();
          });
      }
    }
  })();
  finished.catch(() => {});
  return {
    finished,
    stop() {
      stopped = true;
      woken();
    },
  };
}
