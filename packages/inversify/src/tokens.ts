// Typed service identifiers. Inversify infers the resolved type from a class identifier (`Newable<T>` or
// `AbstractNewable<T>`) but not from a string or a symbol, so every token here is an abstract class: the
// runtime, each publisher and each subscription get one, and `container.getAsync(token)` is typed without a
// type argument. The bus itself is bound under core's `Bus` class.
import type { Bus, Subscription } from '@lossless/core';
import type { AbstractNewable } from 'inversify';
import type { Publisher } from './publisher.js';

/** A service identifier that resolves to a `T`. */
export type Token<T> = AbstractNewable<T>;

/**
 * What the module hands out once everything is up: the connected bus and every started subscription.
 * Resolve it with `await container.getAsync(LosslessRuntime)`; that connects the bus, declares the topology and
 * starts every configured subscription.
 */
export abstract class LosslessRuntime {
  /** The connected bus (also bound under core's `Bus`). */
  abstract readonly bus: Bus;
  /** Every subscription the module started, by `"<topic>/<subscription>"`. */
  abstract readonly subscriptions: ReadonlyMap<string, Subscription>;
  /**
   * Closes every subscription (running handlers finish and are acked, the rest is redelivered), then the bus
   * (pending confirms are flushed). Idempotent. Unloading the module (`container.unloadAsync(module)`) does the
   * same in the same order.
   */
  abstract shutdown(): Promise<void>;
}

/** A named abstract class: the identifier shows up in inversify's error messages under that name. */
function namedToken<T>(name: string): Token<T> {
  const token = { [name]: class {} }[name];
  if (token === undefined) throw new Error(`could not create token ${name}`);
  return token as unknown as Token<T>;
}

/** A token for a `Publisher<T>`; bind it with `publisher({ token, topic })` in the module's configuration. */
export function publisherToken<T>(name: string): Token<Publisher<T>> {
  return namedToken<Publisher<T>>(`Publisher<${name}>`);
}

/** A token for a started `Subscription`; give it as `token` in `subscription({ … })` to inject the handle. */
export function subscriptionToken(name: string): Token<Subscription> {
  return namedToken<Subscription>(`Subscription<${name}>`);
}
