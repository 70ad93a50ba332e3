// The contract every broker fixture of the kit implements. A fixture is a thin object over on-disk state
// (pid files, data and log directories under the kit's home), so a broker started by `npm run brokers -- up`
// in one process can be killed, restarted or stopped from a test in another.

export type BrokerKind = 'rabbitmq' | 'kafka' | 'rocketmq';

/** One process of a broker (a RabbitMQ node, a Kafka node, a RocketMQ broker, name server or proxy). */
export interface BrokerNode {
  readonly name: string;
  /** Starts the node if it is not running and resolves once it accepts clients. Idempotent. */
  start(): Promise<void>;
  /** Stops the node gracefully (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: no flush, no goodbye. Resolves once the process is gone. Harmless when not running. */
  kill(): Promise<void>;
  /** stop() (graceful) then start(); after kill(), just start(). */
  restart(): Promise<void>;
  isRunning(): Promise<boolean>;
  /** The last lines of the node's log, for failure reports. */
  logTail(lines?: number): Promise<string>;
}

export interface NodeStatus {
  name: string;
  running: boolean;
  pid?: number;
  /** Named ports of the node, e.g. { amqp: 5682 } or { kafka: 19092, controller: 19093 }. */
  ports: Record<string, number>;
}

export interface BrokerStatus {
  kind: BrokerKind;
  version: string;
  cluster: string;
  nodes: NodeStatus[];
}

/** A user of a secured fixture. */
export interface KitUser {
  readonly username: string;
  readonly password: string;
}

/**
 * How to reach a secured fixture (`secure: true`): TLS with a throwaway CA, and two users. Every path is a PEM
 * file under the kit home, made at `up` (see pki.ts).
 */
export interface SecureSettings {
  /** The test CA that signed the broker's certificate: what a client must trust. */
  readonly caFile: string;
  /** Another CA, which did not sign the broker's certificate: a client trusting only it must refuse the broker. */
  readonly impostorCaFile: string;
  /**
   * A client certificate and key signed by the test CA, CN = `admin.username` (RabbitMQ EXTERNAL login). The
   * other brokers do not ask for a client certificate.
   */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** The DNS name in the broker's certificate (it also covers the IP 127.0.0.1 every address uses). */
  readonly servername: string;
  /** Full rights: declares, publishes, consumes, administers. */
  readonly admin: KitUser;
  /**
   * Rights on nothing but the topics and subscriptions whose lossless names begin with `limitedPrefix`: there it
   * may publish and consume (with whatever the broker needs for that: its groups, its queues); it may not declare
   * anything. Everywhere else each publish and subscribe is refused.
   */
  readonly limited: KitUser;
  readonly limitedPrefix: string;
}

export interface RabbitMqSettings {
  kind: 'rabbitmq';
  /**
   * amqp:// URL of each node, in node order. On a secured fixture: amqps:// URLs with no user info (the users are
   * in `security`); the TLS listener requires a client certificate (`verify_peer`, `fail_if_no_peer_cert`).
   */
  urls: string[];
  /** Present on a secured fixture. */
  security?: SecureSettings;
}

export interface KafkaSettings {
  kind: 'kafka';
  /** host:port bootstrap addresses of every node (on a secured fixture: its SASL_SSL listener). */
  brokers: string[];
  /** Present on a secured fixture; its users are SCRAM-SHA-512 users, checked by the standard ACL authorizer. */
  security?: SecureSettings & { readonly mechanism: 'scram-sha-512' };
}

export interface RocketMqSettings {
  kind: 'rocketmq';
  /** gRPC proxy endpoint (host:port) for rocketmq-client-nodejs. */
  endpoints: string;
  /** Name server address (host:port), for the remoting admin protocol. */
  namesrv: string;
  /** Broker cluster name, for admin commands. */
  cluster: string;
  /** Broker remoting address (host:port); on the replicated fixture the group's first broker. */
  broker: string;
  /**
   * Brokers holding every confirmed message: 3 on the replicated fixture (one group, controller mode, a send
   * confirmed once two or more have it), else 1 or absent.
   */
  replicas?: number;
  /**
   * Present on a secured fixture: ACL 2.0 (authentication and authorisation) on the broker and the proxy, TLS on
   * the proxy's gRPC port (plaintext refused). Users are access key = username, secret key = password.
   */
  security?: SecureSettings;
}

export type BrokerSettings = RabbitMqSettings | KafkaSettings | RocketMqSettings;

export interface BrokerOptions {
  /** Number of broker nodes: 1 (default) or 3 (replication cases; RocketMQ: one broker group of three). */
  nodes?: 1 | 3;
  /** Broker version; each kind has a pinned default. Kafka accepts 3.9.x and 4.x. */
  version?: string;
  /** Root for data, logs, pids and cached jars; default $LOSSLESS_HOME or <repo>/.lossless. */
  home?: string;
  /** Print progress lines (default: true on a TTY or in CI logs). */
  log?: (line: string) => void;
  /**
   * The secured variant: TLS and authentication on ports of its own, next to the plain fixture (both can run at
   * once). Its settings carry `security`. Single node only.
   */
  secure?: boolean;
}

export interface Broker<S extends BrokerSettings = BrokerSettings> {
  readonly kind: BrokerKind;
  readonly version: string;
  /** A name that tells this fixture's on-disk state apart, e.g. "kafka-3.9.1-n1". */
  readonly cluster: string;
  readonly nodes: readonly BrokerNode[];
  /** How clients reach it. Valid before up() (ports are fixed per fixture). */
  readonly settings: S;
  /** Installs what is missing, starts every node, waits until clients are accepted. Idempotent. */
  up(): Promise<void>;
  /** Stops every node and leaves no process behind. Data stays unless wipe is set. */
  down(options?: { wipe?: boolean }): Promise<void>;
  /** SIGKILL one node (default: node 0; RocketMQ: the broker and the proxy in front of it). */
  kill(node?: number): Promise<void>;
  /** Restart one node (default as kill) and wait until it accepts clients again. */
  restart(node?: number): Promise<void>;
  status(): Promise<BrokerStatus>;
  /**
   * SIGSTOP node `node`: the process stays, its sockets stay open, it answers nothing — a long GC pause, a hung
   * VM. thaw() sends SIGCONT. Local mode only.
   */
  freeze?(node: number): Promise<void>;
  thaw?(node: number): Promise<void>;
  /**
   * Index of the node that leads `resource` now (a cluster fixture only): a RabbitMQ quorum queue's leader, the
   * leader of a Kafka topic's partition 0, the master of the RocketMQ broker group (`resource` is ignored).
   */
  leaderOf?(resource: string): Promise<number>;
}
