// The default faulty link for adapters whose broker is a separate process: the kit's TCP fault proxy in front
// of the broker's client port, and a driver routed through it. While cut, new connections are refused; a
// 'blackhole' keeps existing connections open and silent, a 'reset' drops them.
import { type BrokerSettings, createFaultProxy, type FaultProxy } from '@lossless/brokers';
import type { ConformanceAdapter, FaultyLink, SecurityRequest } from './adapter.js';
import { driverRequest } from './context.js';

/** The first client address in the settings, host and port. */
export function clientAddress(settings: BrokerSettings): { host: string; port: number } {
  const listed =
    settings.kind === 'rabbitmq'
      ? settings.urls[0]
      : settings.kind === 'kafka'
        ? settings.brokers[0]
        : settings.endpoints;
  if (listed === undefined) throw new Error(`the ${settings.kind} broker settings list no client address`);
  const first = settings.kind === 'rabbitmq' ? new URL(listed).host : listed;
  const [host, port] = first.split(':');
  if (host === undefined) throw new Error(`not a host:port client address: "${first}"`);
  return { host, port: Number(port) };
}

export async function proxyLink(
  adapter: ConformanceAdapter,
  settings: BrokerSettings | undefined,
  security?: SecurityRequest,
): Promise<FaultyLink & { proxy: FaultProxy }> {
  if (!settings) throw new Error(`adapter ${adapter.name} has no broker settings to put a proxy in front of`);
  const proxy = await createFaultProxy({ target: clientAddress(settings), refuseWhileCut: true });
  const route = { host: proxy.host, port: proxy.port };
  const driver = await adapter.createDriver(
    driverRequest(settings, { route, ...(security ? { security } : {}) }),
  );
  return {
    proxy,
    driver,
    async cut(mode) {
      proxy.cut();
      if (mode === 'reset') proxy.reset();
    },
    async restore() {
      proxy.restore();
    },
    close: () => proxy.close(),
  };
}
