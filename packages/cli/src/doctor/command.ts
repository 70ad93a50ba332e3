// `lossless doctor`: the doctor on the command line. Parses its flags (the connection flags every command takes,
// plus --topic, --subscription, --timeout-ms, --json, --help), prints the report (a table, or JSON) on stdout and
// errors on stderr, and answers the exit code: 1 when a finding loses data, 0 otherwise, 2 for bad usage, 3 when
// the broker cannot be reached or refuses the login, 4 when the audit failed half-way.
import { parseArgs } from 'node:util';
import { ErrorCode, isLosslessError } from '@lossless/core';
import { CONNECTION_FLAGS, type ConnectionFlags, resolveConnection } from '../connection.js';
import { EXIT } from '../output.js';
import { doctor } from './doctor.js';
import { formatDoctorReport, losesData } from './report.js';

export const DOCTOR_HELP = `lossless doctor — audit what lossless declared and the broker's durability settings

usage: lossless doctor --adapter rabbitmq|kafka|rocketmq [connection flags] [--topic T]... [--subscription T.S]...
                       [--timeout-ms N] [--json]

  --topic T              a topic to audit (repeatable). Kafka audits every topic when none is given.
  --subscription T.S     a subscription to audit, as <topic>.<subscription> (repeatable): its queue (RabbitMQ),
                         consumer group and lag against retention (Kafka), group and dead-letter topic (RocketMQ)
  --timeout-ms N         per-request timeout (default 10000)
  --json                 print the report as JSON
connection flags: --url (RabbitMQ, repeatable), --brokers (Kafka), --endpoints --namesrv (RocketMQ), --username,
  --password-file, --sasl-mechanism, --access-key, --secret-key-file, --tls, --ca, --cert, --key, --servername,
  --insecure; or the LOSSLESS_* environment variables.

severities: loses-data (a confirmed message can be lost as configured), risk (one more failure or setting loses
data), info (a fact, or what could not be checked).
exit: 0 no loses-data finding, 1 a loses-data finding, 2 bad usage, 3 broker unreachable or refused, 4 failed.
`;

export interface CommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

/** Runs `lossless doctor <argv>`; resolves with the exit code (never rejects). */
export async function doctorCommand(
  argv: string[],
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  let values: ConnectionFlags & {
    topic?: string[];
    subscription?: string[];
    'timeout-ms'?: string;
    json?: boolean;
    help?: boolean;
  };
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...CONNECTION_FLAGS,
        topic: { type: 'string', multiple: true },
        subscription: { type: 'string', multiple: true },
        'timeout-ms': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    io.stderr.write(`lossless doctor: ${(error as Error).message}\n(lossless doctor --help)\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout.write(DOCTOR_HELP);
    return EXIT.ok;
  }
  try {
    const connection = resolveConnection(values, io.env);
    const timeout = values['timeout-ms'];
    if (timeout !== undefined && !/^\d+$/.test(timeout)) {
      io.stderr.write(
        `lossless doctor: --timeout-ms must be a whole number of milliseconds, not "${timeout.slice(0, 40)}"\n`,
      );
      return EXIT.usage;
    }
    const report = await doctor(connection, {
      ...(values.topic ? { topics: values.topic } : {}),
      ...(values.subscription ? { subscriptions: values.subscription } : {}),
      ...(timeout === undefined ? {} : { timeoutMs: Number(timeout) }),
    });
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctorReport(report)}\n`);
    return losesData(report) ? EXIT.findings : EXIT.ok;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`lossless doctor: ${message}\n`);
    if (!isLosslessError(error)) return EXIT.failed;
    if (error.code === ErrorCode.INVALID_ARGUMENT) return EXIT.usage;
    if (error.code === ErrorCode.UNAVAILABLE || error.code === ErrorCode.PERMISSION_DENIED)
      return EXIT.unavailable;
    return EXIT.failed;
  }
}
