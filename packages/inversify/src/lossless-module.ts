// The inversify module: from one configuration object it binds the bus (connected and its topology declared
// on first resolution), a typed JSON publisher per configured topic and a started subscription per configured
// handler, plus `LosslessRuntime`, which brings all of it up at once. Everything is a singleton with an async
// value, so it is resolved with `container.getAsync(…)`; unloading the module (`container.unloadAsync(module)`)
// closes the subscriptions first and the bus last, whatever order inversify deactivates the bindings in.
import {
  Bus,
  type BusSubscribeOptions,
  type ConnectOptions,
  checkOptions,
  connect,
  type Delivery,
  type HandlerContext,
  invalidArgument,
  type OptionShape,
  type Subscription,
  type Topology,
} from '@lossless/core';
import { type Bind, ContainerModule, type ResolutionContext, type ServiceIdentifier } from 'inversify';
import { JsonPublisher, type Publisher, type PublisherSettings } from './publisher.js';
import { LosslessRuntime, subscriptionToken, type Token } from './tokens.js';

/** A broker driver, as `connect()` takes it (`@lossless/core/driver`'s `Driver`). */
export type Driver = Parameters<typeof connect>[0];

/** Which driver the bus runs on: a driver factory (`rabbitmq`, `kafka`, `rocketmq`, `memoryDriver`) and its options. */
export interface BusConfig<O> {
  /** Called once, when the bus is first resolved. May be async (e.g. a driver loaded with a dynamic import). */
  driver: (options: O) => Driver | Promise<Driver>;
  /** The driver factory's options. */
  options: O;
  /** `connect()`'s options: publish pipeline, logger, outbox, connect timeout. */
  connect?: ConnectOptions;
}

/** Handles the messages of one subscription. Bind the class in the container like any other service. */
export interface MessageHandler<T> {
  /**
   * Called for each message, with its decoded body. Resolve to ack; throw to have it delivered again
   * (attempt + 1), up to the subscription's maxDeliveries, then it goes to the dead-letter destination.
   * Runs up to `concurrency` times at once: keep it safe for concurrent calls, and deduplicate by
   * `delivery.id` (delivery is at-least-once).
   */
  handle(message: T, delivery: Delivery, context: HandlerContext): unknown;
}

/** A publisher binding: build one with `publisher({ … })`. */
export interface PublisherBinding {
  /** @internal */
  readonly bindTo: (bind: Bind) => void;
}

/** A subscription binding: build one with `subscription({ … })`. */
export interface SubscriptionBinding {
  /** `"<topic>/<subscription>"`: the key in `LosslessRuntime.subscriptions`. */
  readonly name: string;
  readonly token: Token<Subscription>;
  /** @internal */
  readonly bindTo: (bind: Bind, started: Set<Subscription>) => void;
}

export interface PublisherConfig<T> extends PublisherSettings<T> {
  /** Where the `Publisher<T>` is bound: `publisherToken<T>('…')`. */
  token: ServiceIdentifier<Publisher<T>>;
}

export interface SubscriptionConfig<T> {
  topic: string;
  subscription: string;
  /** The handler's service identifier (usually its class); resolved with `getAsync` when the subscription starts. */
  handler: ServiceIdentifier<MessageHandler<T>>;
  /** How a delivery becomes the handler's `T`. Default: `delivery.json()`. A throw redelivers the message. */
  decode?: (delivery: Delivery) => T;
  /** `bus.subscribe()` options: concurrency, prefetch, ordering, redelivery backoff, shutdown timeout… */
  options?: BusSubscribeOptions;
  /** Where the started `Subscription` is bound. Default: a token of its own (see `SubscriptionBinding.token`). */
  token?: Token<Subscription>;
}

export interface LosslessModuleConfig<O> {
  bus: BusConfig<O>;
  /** Declared once the bus is connected (idempotent: every process may declare what it uses). */
  topology?: Topology;
  publishers?: readonly PublisherBinding[];
  subscriptions?: readonly SubscriptionBinding[];
}

// Only the module's own keys are checked here; the topology, connect and subscribe options are checked by
// core when they are used (declare, connect, subscribe), with the same rules.
const MODULE_SHAPE: OptionShape = {
  bus: {
    type: 'object',
    shape: { driver: { type: 'function' }, options: { type: 'any' }, connect: { type: 'any' } },
  },
  topology: { type: 'any' },
  publishers: { type: 'array', of: { type: 'any' } },
  subscriptions: { type: 'array', of: { type: 'any' } },
};

/** A typed `Publisher<T>` binding for the module's configuration. */
export function publisher<T>(config: PublisherConfig<T>): PublisherBinding {
  const { token, ...settings } = config;
  return {
    bindTo: (bind) => {
      bind(token)
        .toDynamicValue(async (ctx) => new JsonPublisher<T>(await ctx.getAsync(Bus), settings))
        .inSingletonScope();
    },
  };
}

/** A subscription binding: `handler` runs for each message of `subscription` of `topic`. */
export function subscription<T>(config: SubscriptionConfig<T>): SubscriptionBinding {
  const name = `${config.topic}/${config.subscription}`;
  const token = config.token ?? subscriptionToken(name);
  const decode = config.decode ?? ((d: Delivery) => d.json<T>());
  return {
    name,
    token,
    bindTo: (bind, started) => {
      bind(token)
        .toDynamicValue(async (ctx: ResolutionContext) => {
          const bus = await ctx.getAsync(Bus);
          const handler = await ctx.getAsync(config.handler);
          const sub = await bus.subscribe(
            config.topic,
            config.subscription,
            (delivery, context) => handler.handle(decode(delivery), delivery, context),
            config.options,
          );
          started.add(sub);
          return sub;
        })
        .inSingletonScope()
        .onDeactivation(async (sub) => {
          started.delete(sub);
          await sub.close();
        });
    },
  };
}

class Runtime extends LosslessRuntime {
  private closing: Promise<void> | undefined;

  constructor(
    readonly bus: Bus,
    readonly subscriptions: ReadonlyMap<string, Subscription>,
    private readonly started: Set<Subscription>,
  ) {
    super();
  }

  shutdown(): Promise<void> {
    this.closing ??= shutdownInOrder(this.bus, this.started);
    return this.closing;
  }
}

/** Subscriptions first (their handlers may still publish), the bus last. */
async function shutdownInOrder(bus: Bus, started: Set<Subscription>): Promise<void> {
  const subs = [...started];
  started.clear();
  await Promise.allSettled(subs.map((s) => s.close()));
  await bus.close();
}

/**
 * The lossless module. Load it (`container.load(losslessModule(config))`), then
 * `await container.getAsync(LosslessRuntime)` to connect, declare and start every subscription — or resolve
 * single pieces (`Bus`, a publisher token, a subscription token) with `getAsync`; each brings up only what it
 * needs. Shut down with `runtime.shutdown()` or `container.unloadAsync(module)` (subscriptions, then the bus).
 * One bus per container: load the module once.
 */
export function losslessModule<O>(given: LosslessModuleConfig<O>): ContainerModule {
  const config = checkOptions<LosslessModuleConfig<O>>('losslessModule()', given, MODULE_SHAPE);
  if (config.bus === undefined)
    throw invalidArgument('losslessModule(): bus ({ driver, options }) is required');
  if (typeof config.bus.driver !== 'function') {
    throw invalidArgument('losslessModule(): bus.driver must be a function that returns a driver');
  }
  return new ContainerModule(({ bind }) => {
    // Subscriptions started through this module, so that closing the bus can close them first.
    const started = new Set<Subscription>();
    bind(Bus)
      .toDynamicValue(async () => {
        const driver = await config.bus.driver(config.bus.options);
        const bus = await connect(driver, config.bus.connect);
        if (config.topology) {
          try {
            await bus.declare(config.topology);
          } catch (error) {
            await bus.close().catch(() => {});
            throw error;
          }
        }
        return bus;
      })
      .inSingletonScope()
      .onDeactivation((bus) => shutdownInOrder(bus, started));
    for (const p of config.publishers ?? []) p.bindTo(bind);
    const subscriptions = config.subscriptions ?? [];
    const names = new Set<string>();
    for (const s of subscriptions) {
      if (names.has(s.name))
        throw invalidArgument(`losslessModule(): subscription ${s.name} is configured twice`);
      names.add(s.name);
      s.bindTo(bind, started);
    }
    bind(LosslessRuntime)
      .toDynamicValue(async (ctx) => {
        const bus = await ctx.getAsync(Bus);
        const handles = new Map<string, Subscription>();
        for (const s of subscriptions) handles.set(s.name, await ctx.getAsync(s.token));
        return new Runtime(bus, handles, started);
      })
      .inSingletonScope();
  });
}
