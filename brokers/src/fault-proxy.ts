// A TCP proxy between a client and a broker port that can fail the network on demand, for the network-cut
// conformance cases. (Toxiproxy does the same but is not packaged in Debian; this is ~200 lines of node:net.)
//
//  - cut():     a blackhole. Every socket stays open but no byte moves in either direction, like a partition
//               or a dead peer behind a half-open connection: nobody gets an error or a FIN. Bytes sent meanwhile
//               are held (the sender's TCP window fills, as with retransmissions on a real link) and are
//               delivered, in order, on restore() — so a stream is never corrupted. An end or close of one side
//               during the cut reaches the other side only after restore(), as a FIN would.
//  - restore(): forward again, including everything held.
//  - reset():   destroy every connection with a TCP RST (both sides see ECONNRESET / close).
//  - latency(): delay every chunk by ms in each direction (0 turns it off).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface FaultProxyOptions {
  target: { host?: string; port: number };
  /** Where the proxy listens: 127.0.0.1 and a free port by default. */
  listen?: { host?: string; port?: number };
  /** While cut, reset new connections instead of accepting them into the blackhole (default: false). */
  refuseWhileCut?: boolean;
}

export interface FaultProxyStats {
  /** Client connections currently open through the proxy. */
  connections: number;
  /** Connections accepted since the proxy started. */
  accepted: number;
  /** Bytes forwarded client → target and target → client. */
  forwardedUp: number;
  forwardedDown: number;
  /** Bytes waiting in the proxy (cut or delayed). */
  held: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** `host:port` of the proxy, handy for Kafka/RocketMQ style settings. */
  readonly address: string;
  readonly isCut: boolean;
  cut(): void;
  restore(): void;
  reset(): void;
  latency(ms: number): void;
  stats(): FaultProxyStats;
  close(): Promise<void>;
}

/** Bytes one direction of a connection holds in memory before it stops reading. */
const HOLD_LIMIT = 4 * 1024 * 1024;

type Item = { at: number; chunk: Buffer } | { at: number; end: true };

/** One direction of one connection: reads from `from`, writes to `to`, obeying cut and latency. */
class Pipe {
  private readonly queue: Item[] = [];
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  heldBytes = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly proxy: ProxyState,
    private readonly count: (n: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => {
      this.queue.push({ at: Date.now() + proxy.latencyMs, chunk });
      this.heldBytes += chunk.length;
      this.pump();
    });
    from.on('end', () => {
      this.queue.push({ at: Date.now() + proxy.latencyMs, end: true });
      this.pump();
    });
    to.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
  }

  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.proxy.cut) {
      // Hold what arrives (up to a limit, then let the kernel buffers and the sender's window fill up).
      if (this.heldBytes > HOLD_LIMIT) this.from.pause();
      return;
    }
    const now = Date.now();
    for (let item = this.queue[0]; item !== undefined && !this.waitingDrain; item = this.queue[0]) {
      if (item.at > now) {
        this.timer = setTimeout(() => this.pump(), item.at - now);
        break;
      }
      this.queue.shift();
      if (this.to.destroyed) return;
      if ('end' in item) {
        this.to.end();
        continue;
      }
      this.heldBytes -= item.chunk.length;
      this.count(item.chunk.length);
      if (!this.to.write(item.chunk)) this.waitingDrain = true;
    }
    // Back-pressure: stop reading while the other side is slow or many bytes wait for their delay.
    if (this.waitingDrain || this.heldBytes > HOLD_LIMIT) this.from.pause();
    else this.from.resume();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface ProxyState {
  cut: boolean;
  latencyMs: number;
}

interface Connection {
  client: Socket;
  upstream: Socket;
  pipes: [Pipe, Pipe];
  /** A close seen during a cut, to pass on at restore. */
  pendingClose: boolean;
}

function hardClose(socket: Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

export async function createFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = options.target.host ?? '127.0.0.1';
  const listenHost = options.listen?.host ?? '127.0.0.1';
  const state: ProxyState = { cut: false, latencyMs: 0 };
  const connections = new Set<Connection>();
  const counters = { accepted: 0, up: 0, down: 0 };

  const drop = (conn: Connection) => {
    connections.delete(conn);
    conn.pipes[0].stop();
    conn.pipes[1].stop();
  };
  // A side that fails (reset, error) takes the other down with a reset — unless the network is cut, when the
  // other side hears nothing until restore().
  const failed = (conn: Connection, other: Socket) => {
    if (state.cut) conn.pendingClose = true;
    else hardClose(other);
  };

  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    if (state.cut && options.refuseWhileCut) {
      hardClose(client);
      return;
    }
    counters.accepted += 1;
    const upstream = createConnection({ host: targetHost, port: options.target.port, allowHalfOpen: true });
    upstream.pause();
    const conn: Connection = {
      client,
      upstream,
      pendingClose: false,
      pipes: [
        new Pipe(client, upstream, state, (n) => {
          counters.up += n;
        }),
        new Pipe(upstream, client, state, (n) => {
          counters.down += n;
        }),
      ],
    };
    connections.add(conn);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    upstream.once('connect', () => {
      conn.pipes[0].pump();
      conn.pipes[1].pump();
    });
    // A refused or failed upstream shows as a reset to the client, as a direct connection would.
    upstream.on('error', () => failed(conn, client));
    client.on('error', () => failed(conn, upstream));
    // Ends travel through the pipes (half-close); a socket closes once both of its directions are done.
    const closed = () => {
      if (client.destroyed && upstream.destroyed) drop(conn);
    };
    client.on('close', closed);
    upstream.on('close', closed);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen?.port ?? 0, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');
  const port = address.port;

  return {
    host: listenHost,
    port,
    address: `${listenHost}:${port}`,
    get isCut() {
      return state.cut;
    },
    cut() {
      state.cut = true;
      for (const conn of connections) for (const pipe of conn.pipes) pipe.pump();
    },
    restore() {
      state.cut = false;
      for (const conn of [...connections]) {
        if (conn.pendingClose) {
          hardClose(conn.client);
          hardClose(conn.upstream);
          drop(conn);
          continue;
        }
        for (const pipe of conn.pipes) pipe.pump();
      }
    },
    reset() {
      for (const conn of [...connections]) {
        hardClose(conn.client);
        hardClose(conn.upstream);
        drop(conn);
      }
    },
    latency(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`fault proxy: latency must be ≥ 0 ms, not ${ms}`);
      state.latencyMs = ms;
    },
    stats() {
      let held = 0;
      for (const conn of connections) held += conn.pipes[0].heldBytes + conn.pipes[1].heldBytes;
      return {
        connections: connections.size,
        accepted: counters.accepted,
        forwardedUp: counters.up,
        forwardedDown: counters.down,
        held,
      };
    },
    close() {
      for (const conn of connections) {
        conn.pipes[0].stop();
        conn.pipes[1].stop();
        conn.client.destroy();
        conn.upstream.destroy();
      }
      connections.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
