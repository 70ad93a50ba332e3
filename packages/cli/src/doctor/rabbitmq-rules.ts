// The RabbitMQ rules: pure functions from what the broker holds (a queue's flags and arguments, an exchange's
// flags, the number of nodes) to findings. rabbitmq-inspect.ts gathers that state; these functions only judge it,
// so they are unit-tested on states recorded from a real broker.
import type { Finding } from './report.js';

/** A queue as the broker holds it: flags and the `x-` arguments it was declared with. */
export interface RabbitQueueState {
  readonly name: string;
  /** 'dead-letter' for a lossless `<topic>.<subscription>.dlq` queue: it is the end of the line by design. */
  readonly role: 'queue' | 'dead-letter';
  readonly durable: boolean;
  readonly autoDelete: boolean;
  /** Owned by one connection: deleted when it closes. */
  readonly exclusive: boolean;
  readonly arguments: Readonly<Record<string, unknown>>;
  /** Replicas of a quorum queue, when the broker says (the management API); undefined over AMQP. */
  readonly members?: number | undefined;
}

export interface RabbitExchangeState {
  readonly name: string;
  readonly type: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
}

/** How many nodes the cluster has, and how the doctor knows. */
export interface RabbitClusterState {
  readonly nodes: number;
  /** 'urls': the number of node URLs the connection was given (a lower bound); 'management': /api/nodes. */
  readonly source: 'urls' | 'management';
}

export function queueType(q: RabbitQueueState): string {
  const t = q.arguments['x-queue-type'];
  return typeof t === 'string' ? t : 'classic';
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

export function exchangeRules(e: RabbitExchangeState): Finding[] {
  const out: Finding[] = [];
  const subject = `exchange ${e.name}`;
  if (!e.durable) {
    out.push({
      severity: 'loses-data',
      rule: 'rabbitmq.exchange.non-durable',
      subject,
      what: 'durable: false',
      why: 'a broker restart deletes the exchange and every binding to it: publishes after the restart reach no queue',
      fix: 'delete the exchange and declare it durable (bus.declare does)',
    });
  }
  if (e.autoDelete) {
    out.push({
      severity: 'loses-data',
      rule: 'rabbitmq.exchange.auto-delete',
      subject,
      what: 'auto_delete: true',
      why: 'the exchange is deleted when its last queue is unbound: later publishes reach no queue',
      fix: 'delete the exchange and declare it with autoDelete: false',
    });
  }
  return out;
}

/** The findings of one queue. `cluster` decides the replication rules. */
export function queueRules(q: RabbitQueueState, cluster: RabbitClusterState): Finding[] {
  const out: Finding[] = [];
  const subject = `queue ${q.name}`;
  const args = q.arguments;
  const type = queueType(q);
  const dlx = typeof args['x-dead-letter-exchange'] === 'string' && args['x-dead-letter-exchange'] !== '';
  const add = (f: Omit<Finding, 'subject'>) => out.push({ ...f, subject });
  if (!q.durable) {
    add({
      severity: 'loses-data',
      rule: 'rabbitmq.queue.non-durable',
      what: 'durable: false',
      why: 'a broker restart deletes the queue and every message in it, persistent or not',
      fix: 'move the messages off, delete the queue and declare it durable (bus.declare does)',
    });
  }
  if (q.exclusive) {
    add({
      severity: 'loses-data',
      rule: 'rabbitmq.queue.exclusive',
      what: 'exclusive: true',
      why: 'the queue belongs to one connection and is deleted with its messages when that connection closes',
      fix: 'declare a named, durable, non-exclusive queue',
    });
  }
  if (q.autoDelete) {
    add({
      severity: 'loses-data',
      rule: 'rabbitmq.queue.auto-delete',
      what: 'auto_delete: true',
      why: 'the queue is deleted with its messages when its last consumer cancels (a deploy, a crash)',
      fix: 'delete the queue and declare it with autoDelete: false',
    });
  }
  const expires = num(args['x-expires']);
  if (expires !== undefined) {
    add({
      severity: 'loses-data',
      rule: 'rabbitmq.queue.expires',
      what: `x-expires: ${expires} ms`,
      why: 'a queue unused for that long is deleted with its messages, dead-letter exchange or not',
      fix: 'declare the queue without x-expires (and remove any policy that sets expires)',
    });
  }
  if (type === 'classic' && cluster.nodes > 1) {
    add({
      severity: 'loses-data',
      rule: 'rabbitmq.queue.classic-on-cluster',
      what: `classic queue on a cluster of ${cluster.nodes} nodes${cluster.source === 'urls' ? ' (as many node URLs were given)' : ''}`,
      why: 'a classic queue lives on one node: the loss of that node or its disk loses every message in it',
      fix: "move it to a quorum queue (x-queue-type: quorum; the RabbitMQ adapter's default on a cluster)",
    });
  }
  if (type === 'quorum') {
    const initial = num(args['x-quorum-initial-group-size']);
    const members = q.members ?? (initial !== undefined && initial < 3 ? initial : undefined);
    if (members !== undefined && members < 3) {
      add({
        severity: 'risk',
        rule: 'rabbitmq.queue.quorum-few-members',
        what: `quorum queue with ${members} member${members === 1 ? '' : 's'}${q.members === undefined ? ' (x-quorum-initial-group-size)' : ''}`,
        why:
          members === 1
            ? 'one member replicates nothing: its node’s disk is the only copy'
            : 'two members tolerate no failure: losing one stops the queue, losing both disks loses it',
        fix: 'grow the queue to 3 or 5 members (rabbitmq-queues grow <node> all, or declare on a 3-node cluster)',
      });
    }
  }
  const overflow = typeof args['x-overflow'] === 'string' ? args['x-overflow'] : undefined;
  const maxLength = num(args['x-max-length']) ?? num(args['x-max-length-bytes']);
  if (overflow === 'drop-head' || (overflow === undefined && maxLength !== undefined)) {
    const limit = maxLength === undefined ? '' : ` with a length limit (${maxLength})`;
    add({
      severity: dlx ? 'risk' : 'loses-data',
      rule: 'rabbitmq.queue.drop-head',
      what: `${overflow === undefined ? 'x-overflow unset (drop-head)' : 'x-overflow: drop-head'}${limit}`,
      why: dlx
        ? 'a full queue dead-letters its oldest messages, at most once (a crash in between drops them)'
        : 'a full queue silently drops its oldest messages: the publisher was confirmed, nobody gets them',
      fix: 'set x-overflow: reject-publish (a publish to a full queue is then nacked and retried by lossless)',
    });
  }
  const ttl = num(args['x-message-ttl']);
  if (ttl !== undefined) {
    add({
      severity: dlx ? 'info' : 'loses-data',
      rule: 'rabbitmq.queue.message-ttl',
      what: `x-message-ttl: ${ttl} ms`,
      why: dlx
        ? 'messages unconsumed for that long move to the dead-letter exchange'
        : 'messages unconsumed for that long are dropped (no dead-letter exchange)',
      fix: 'remove x-message-ttl, or give the queue a dead-letter exchange',
    });
  }
  const limit = num(args['x-delivery-limit']);
  if (type === 'quorum' && limit !== undefined && !dlx) {
    add({
      severity: 'loses-data',
      rule: 'rabbitmq.queue.delivery-limit-drops',
      what: `x-delivery-limit: ${limit}, no dead-letter exchange`,
      why: 'a message redelivered more often than the limit is dropped by the broker',
      fix: 'give the queue a dead-letter exchange (bus.declare with deadLetter: true does)',
    });
  }
  if (type === 'quorum' && dlx && args['x-dead-letter-strategy'] !== 'at-least-once') {
    add({
      severity: 'risk',
      rule: 'rabbitmq.queue.dead-letter-at-most-once',
      what: `x-dead-letter-strategy: ${String(args['x-dead-letter-strategy'] ?? 'at-most-once (default)')}`,
      why: 'a quorum queue dead-letters at most once by default: a message is gone if the copy is lost in a failure',
      fix: 'set x-dead-letter-strategy: at-least-once with x-overflow: reject-publish',
    });
  }
  if (!dlx && q.role === 'queue') {
    add({
      severity: 'risk',
      rule: 'rabbitmq.queue.no-dead-letter',
      what: 'no x-dead-letter-exchange',
      why: 'a message rejected without requeue (or expired, or over a limit) is dropped instead of kept',
      fix: 'declare the subscription with deadLetter: true (a <queue>.dlx exchange and <queue>.dlq queue)',
    });
  }
  if (args['x-queue-mode'] === 'lazy') {
    add({
      severity: 'info',
      rule: 'rabbitmq.queue.lazy',
      what: 'x-queue-mode: lazy',
      why: 'lazy mode moves messages to disk early; it changes memory use, not what a confirm guarantees',
      fix: 'nothing to fix for durability',
    });
  }
  return out;
}

/** The cluster-wide findings: the facts the doctor could not see over AMQP. */
export function clusterRules(cluster: RabbitClusterState, management: boolean): Finding[] {
  const out: Finding[] = [];
  if (cluster.nodes === 1 && cluster.source === 'management') {
    out.push({
      severity: 'risk',
      rule: 'rabbitmq.cluster.single-node',
      subject: 'cluster',
      what: 'one node',
      why: 'every message has one copy: the loss of that node’s disk loses them all',
      fix: 'run 3 nodes with quorum queues',
    });
  }
  if (!management) {
    out.push({
      severity: 'info',
      rule: 'rabbitmq.policies.unchecked',
      subject: 'cluster',
      what: 'policies, node count and quorum members not visible over AMQP',
      why: 'a policy can set max-length, overflow, message-ttl or expires on a queue without its arguments showing it',
      fix: 'run `rabbitmqctl list_policies` and `rabbitmqctl list_queues name type members policy` on a node',
    });
  }
  return out;
}
