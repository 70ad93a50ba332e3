#!/usr/bin/env node
// The `lossless` command: dispatches to `dlq` (dead letters) and `doctor` (durability checks).
import { CONNECTION_HELP, dlqCommand } from './dlq/command.js';
import { doctorCommand } from './doctor/index.js';
import { EXIT } from './output.js';

const HELP = `lossless — operations for lossless messaging on RabbitMQ, Kafka and RocketMQ

Usage:
  lossless dlq list|show|redrive|purge [flags]   dead letters (lossless dlq --help)
  lossless doctor [flags]                        durability checks of a broker and its topology
  lossless --help

${CONNECTION_HELP}

Exit codes: 0 ok; 1 done with findings (messages left behind, data-losing settings); 2 bad usage; 3 broker
unreachable or refused; 4 failed half-way (a rerun is safe).`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === 'dlq') return dlqCommand(rest);
  if (command === 'doctor') return doctorCommand(rest);
  process.stderr.write(`lossless: unknown command "${command.slice(0, 40)}": see lossless --help\n`);
  return EXIT.usage;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`lossless: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.failed;
  },
);
