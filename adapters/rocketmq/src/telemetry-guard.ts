// rocketmq-client-nodejs 1.0.8 leaves two holes in the telemetry stream every client keeps open to the proxy
// (TelemetrySession), and a dropped connection turns both into trouble:
//
//  - release() (a client's shutdown) ends a live stream and removes all of its listeners, the 'error' listener
//    included. When the connection then drops before the proxy completed the stream, grpc-js emits 'error'
//    ("14 UNAVAILABLE: Connection dropped") with no listener, and Node throws it as an uncaught exception: the
//    application's process crashes after it closed a bus cleanly.
//  - after an error or an end, the session opens a new stream one second later, also once the client was shut
//    down; and a shutdown whose goodbye to the proxy fails (the network is down) never releases the sessions at
//    all. A client shut down during an outage then reconnects every second, forever.
//
// guardTelemetry closes both holes for one client: an 'error' on a telemetry stream that nobody listens for any
// more is dropped, and from the moment shutdown() is called, a stream the client asks for is an inert local one
// that never connects. Found by the network-cut conformance cases (F3, F5, F6, L1) through the kit's fault proxy.
import { Duplex } from 'node:stream';
import type { Producer, SimpleConsumer } from 'rocketmq-client-nodejs';

type Client = Producer | SimpleConsumer;
type TelemetryStream = ReturnType<Client['createTelemetryStream']>;

/** A stream that takes every write and never reads, ends or fails: nothing goes over the network. */
function inertStream(): TelemetryStream {
  const stream = new Duplex({
    objectMode: true,
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
  });
  return stream as unknown as TelemetryStream;
}

export function guardTelemetry<C extends Client>(client: C): C {
  const create = client.createTelemetryStream.bind(client);
  const shutdown = client.shutdown.bind(client);
  let retired = false;
  client.createTelemetryStream = (endpoints) => {
    if (retired) return inertStream();
    const stream = create(endpoints);
    const emit = stream.emit as (
      this: TelemetryStream,
      event: string | symbol,
      ...args: unknown[]
    ) => boolean;
    stream.emit = function (this: TelemetryStream, event: string | symbol, ...args: unknown[]): boolean {
      // The session's own listener is a `once`, renewed with each stream; none left means it let go already.
      if (event === 'error' && this.listenerCount('error') === 0) return false;
      return emit.call(this, event, ...args);
    } as TelemetryStream['emit'];
    return stream;
  };
  client.shutdown = async () => {
    retired = true;
    await shutdown();
  };
  return client;
}
