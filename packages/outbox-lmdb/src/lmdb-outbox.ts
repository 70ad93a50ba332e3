// An OutboxStore on LMDB (the `lmdb` package): a memory-mapped B+tree with synchronous, crash-safe commits.
// Chosen after measuring, on this 2-core machine, 64 callers each writing then deleting 1 KiB records durably:
// lmdb ~58,700/s (it commits everything written in one turn as one transaction), classic-level (LevelDB) with
// sync writes ~6,100/s. Its native code ships prebuilt in the npm package; no download, no build.
//
// Keys are increasing sequence numbers, so load() returns entries oldest first; an in-memory index maps message
// ids to keys for delete(). One store per directory and process (LMDB allows several readers, one writer).
import {
  checkOptions,
  describeError,
  ErrorCode,
  invalidArgument,
  LosslessError,
  type MessageRecord,
  type OptionShape,
  type OutboxEntry,
  type OutboxStore,
} from '@lossless/core';
import { open, type RootDatabase } from 'lmdb';

interface Stored {
  topic: string;
  id: string;
  key: string | null;
  headers: Record<string, string>;
  body: Uint8Array;
  timestamp: number;
}

export interface LmdbOutboxOptions {
  /** Directory of the store (created when missing). One producer process per directory. */
  path: string;
  /** Map size limit in bytes; LMDB grows the file up to it. Default 4 GiB. */
  maxBytes?: number;
}

export interface LmdbOutbox extends OutboxStore {
  /** Entries held now. */
  readonly size: number;
}

/** Opens (or creates) a crash-safe outbox in `path`. */
export function lmdbOutbox(given: LmdbOutboxOptions): LmdbOutbox {
  const options = checkOptions<LmdbOutboxOptions>('lmdbOutbox()', given, OPTIONS_SHAPE);
  if (options.path === undefined) throw invalidArgument('lmdbOutbox(): path is required (a directory)');
  let db: RootDatabase<Stored, number>;
  try {
    db = openStore(options);
  } catch (cause) {
    throw new LosslessError(
      ErrorCode.UNAVAILABLE,
      `lmdbOutbox(): cannot open the store at ${JSON.stringify(options.path)}: ${describeError(cause)}`,
      { cause, retriable: false },
    );
  }
  return storeOver(db);
}

const OPTIONS_SHAPE: OptionShape = {
  path: { type: 'string', minLength: 1, maxLength: 4_096 },
  maxBytes: { type: 'integer', min: 1024 * 1024, max: Number.MAX_SAFE_INTEGER },
};

function openStore(options: LmdbOutboxOptions): RootDatabase<Stored, number> {
  return open<Stored, number>({
    path: options.path,
    mapSize: options.maxBytes ?? 4 * 1024 * 1024 * 1024,
    compression: false,
    // Durable commits: every put resolves only after LMDB synced the transaction to disk.
    noSync: false,
    encoding: 'msgpack',
  });
}

function storeOver(db: RootDatabase<Stored, number>): LmdbOutbox {
  const keys = new Map<string, number>();
  let next = 0;
  let loaded = false;

  return {
    get size() {
      return keys.size;
    },
    async load(): Promise<OutboxEntry[]> {
      const entries: OutboxEntry[] = [];
      for (const { key, value } of db.getRange()) {
        keys.set(value.id, key);
        next = Math.max(next, key + 1);
        const record: MessageRecord = {
          id: value.id,
          key: value.key ?? undefined,
          headers: value.headers,
          body: new Uint8Array(value.body),
          timestamp: value.timestamp,
        };
        entries.push({ topic: value.topic, record });
      }
      loaded = true;
      return entries;
    },
    async put(entries): Promise<void> {
      if (!loaded) await this.load();
      await db.transaction(() => {
        for (const { topic, record } of entries) {
          const key = next++;
          keys.set(record.id, key);
          void db.put(key, {
            topic,
            id: record.id,
            key: record.key ?? null,
            headers: { ...record.headers },
            body: record.body,
            timestamp: record.timestamp,
          });
        }
      });
    },
    async delete(ids): Promise<void> {
      await db.transaction(() => {
        for (const id of ids) {
          const key = keys.get(id);
          if (key === undefined) continue;
          keys.delete(id);
          void db.remove(key);
        }
      });
    },
    async close(): Promise<void> {
      await db.close();
    },
  };
}
