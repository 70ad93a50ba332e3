// Helpers to build a driver around another one: replace some of its members, or change its deliveries on their
// way to core. The suite-strength mutants are built this way around the in-memory driver; an adapter author can
// use them to check that the suite catches a bug they fear (wrap the memory driver, break one promise, run the
// catalog), or to add instrumentation around a real driver.
//
// Every helper returns a new object and never changes the one it wraps. Members that are not replaced call
// through to the wrapped driver or delivery, so their contracts (concurrency, idempotency, what happens after
// close) are the wrapped one's — and a replaced member must keep them, or knowingly break them.
import type { DeliverySink, Driver, DriverDelivery } from '@lossless/core/driver';

/**
 * A driver like `base` with the members in `parts` replaced; every other member calls through to `base`
 * (`name` and `capabilities` are read from `base` once, when the wrapper is made).
 */
export function overrideDriver(base: Driver, parts: Partial<Driver>): Driver {
  return {
    name: base.name,
    capabilities: base.capabilities,
    connect: (signal) => base.connect(signal),
    declare: (topology) => base.declare(topology),
    send: (topic, records, progress) => base.send(topic, records, progress),
    subscribe: (options, sink) => base.subscribe(options, sink),
    health: () => base.health(),
    classify: (error) => base.classify(error),
    close: () => base.close(),
    ...parts,
  };
}

/**
 * A driver like `base` whose deliveries pass through `change` before they reach core. `change` receives each
 * delivery and core's sink: it may hand core the delivery, a changed copy (see `overrideDelivery`), several
 * deliveries or none. Like a sink, it is called synchronously by the driver and must not throw.
 */
export function mapDeliveries(
  base: Driver,
  change: (delivery: DriverDelivery, sink: DeliverySink) => void,
): Driver {
  return overrideDriver(base, {
    subscribe: (options, sink) => base.subscribe(options, (delivery) => change(delivery, sink)),
  });
}

/**
 * A delivery like `d` with the members in `parts` replaced; `ack`, `nack`, `deadLetter` and (when `d` has it)
 * `extend` call through to `d` unless replaced.
 */
export function overrideDelivery(d: DriverDelivery, parts: Partial<DriverDelivery>): DriverDelivery {
  const extend = d.extend;
  return {
    id: d.id,
    key: d.key,
    headers: d.headers,
    body: d.body,
    timestamp: d.timestamp,
    attempt: d.attempt,
    ack: () => d.ack(),
    nack: (options) => d.nack(options),
    deadLetter: (options) => d.deadLetter(options),
    ...(extend ? { extend: () => extend.call(d) } : {}),
    ...parts,
  };
}

/**
 * `d`, calling `settled` just before its first settlement (`ack`, `nack` or `deadLetter`) is passed on — for
 * wrappers that track which deliveries are still unsettled. Later settlements are passed on without a call.
 */
export function onSettle(d: DriverDelivery, settled: () => void): DriverDelivery {
  let done = false;
  const first = () => {
    if (done) return;
    done = true;
    settled();
  };
  return overrideDelivery(d, {
    ack: () => {
      first();
      return d.ack();
    },
    nack: (options) => {
      first();
      return d.nack(options);
    },
    deadLetter: (options) => {
      first();
      return d.deadLetter(options);
    },
  });
}
