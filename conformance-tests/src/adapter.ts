// What the suite needs to know about an adapter to certify it. Third parties export one of these from a module
// and run `npx lossless-conformance --adapter ./path/to/module.js` (`npm run conformance -- …` in this repository).
import type { Broker, BrokerKind, BrokerSettings } from '@lossless/brokers';
import type { Driver } from '@lossless/core/driver';

export interface DriverRequest {
  /** Connection settings of the broker the kit (or the environment) provides; undefined for in-process drivers. */
  settings: BrokerSettings | undefined;
  /** Connect through this address instead of the broker's own (a fault proxy, or a port where nothing listens). */
  route?: { host: string; port: number };
  /**
   * Set when the broker is a secured fixture (`settings.security`, `--secure`): who connects and how. The adapter
   * turns it into its driver's TLS and authentication options. Absent on a secured fixture: the admin user over
   * verified TLS.
   */
  security?: SecurityRequest;
}

/** How a case connects to a secured fixture; every field but `user` says how to get it wrong on purpose. */
export interface SecurityRequest {
  /** `settings.security.admin` (all rights) or `.limited` (rights only on names beginning with its prefix). */
  user: 'admin' | 'limited';
  /** Log in with this password instead of the user's own (a wrong one). */
  password?: string;
  /** Trust the impostor CA instead of the one that signed the broker's certificate. */
  trust?: 'kit' | 'impostor';
  /** Expect this name in the broker's certificate instead of `settings.security.servername`. */
  servername?: string;
  /** Speak plaintext (no TLS) to the secured port: the driver must fail with a typed error, never fall back. */
  plaintext?: boolean;
}

/** A network between one client and the broker that a case can cut and restore. */
export interface FaultyLink {
  driver: Driver;
  /** 'blackhole': bytes stop, sockets stay open (nothing calls back); 'reset': connections drop and are refused. */
  cut(mode: 'blackhole' | 'reset'): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Makes the broker refuse chosen records of a batch (P13). */
export interface SendFaults {
  /**
   * From now on, each record sent to the broker is passed to `pick`: a result refuses that record with a
   * NACKED of that retriability (the rest of its batch is stored as usual). Returns a function that stops it.
   */
  refuse(pick: (topic: string, id: string) => { retriable: boolean } | undefined): () => void;
}

export interface ConformanceAdapter {
  /** Shown in the report, e.g. "rabbitmq". */
  name: string;
  /** The broker the kit must bring up (absent for in-process drivers such as the memory driver). */
  broker?: { kind: BrokerKind; nodes?: 1 | 3; version?: string };
  /** A fresh, unconnected driver. Called once per bus a case opens. */
  createDriver(request: DriverRequest): Driver | Promise<Driver>;
  /**
   * A driver whose network the suite can cut (F3, F5, F6, L1). Default: the kit's TCP fault proxy in front of the
   * broker's first client port, passed as `route`. In-process drivers provide their own or leave it out (the
   * cases are then skipped with that reason).
   */
  createFaultyLink?(settings: BrokerSettings | undefined): Promise<FaultyLink>;
  /**
   * A module that exports this adapter as `adapter`, importable in a child process (R1, F7 kill a consumer or a
   * producer process with SIGKILL). Absent: those cases are skipped with that reason.
   */
  module?: string;
  /**
   * Makes the broker refuse single records of a batch (P13). Absent (no real broker can be told to refuse one
   * record): P13 is skipped with that reason.
   */
  sendFaults?: SendFaults;
  /**
   * The authentication mechanisms the adapter's driver offers (shown in the report; the security cases use the
   * fixture's). Absent: the adapter cannot connect to a secured broker, and `--secure` refuses to run it.
   */
  security?: { mechanisms: readonly string[] };
  /** How long a case waits for deliveries before it counts the missing as lost, ms. Default 30,000. */
  deliveryTimeoutMs?: number;
  /**
   * How long a released or nacked message may take to come back, ms (RocketMQ redelivers through a periodic
   * revive scan). Cases that prove a message does NOT come back watch at least this long. Default 0: the broker
   * returns released messages ahead of later ones (RabbitMQ requeues at the head, Kafka rewinds the offset).
   */
  redeliveryWindowMs?: number;
  /**
   * What the broker elects a leader for, named for the kit's `leaderOf` (the node-fault cases N1–N4): the queue
   * of a subscription on RabbitMQ. Default: the topic (a Kafka topic's partition 0; RocketMQ's broker group).
   */
  leaderResource?(topic: string, subscription: string): string;
}

/** What a case gets to control the broker process, when the kit runs it. */
export type BrokerControl = Pick<
  Broker,
  'kill' | 'restart' | 'status' | 'settings' | 'freeze' | 'thaw' | 'leaderOf'
>;
