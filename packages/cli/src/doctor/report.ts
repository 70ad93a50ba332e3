// What the doctor finds and how it prints it. A finding is one setting that decides whether a confirmed message
// can be lost, with a stable rule id (scripts match on it, never on the prose), the object it is about, why it
// risks loss and how to fix it. Severities, from worst:
//   loses-data — as configured, a message the broker confirmed can be lost without any failure of the
//                application: a restart, one broker's disk, an expiry, a full queue or a leader election drops it.
//                `lossless doctor` exits 1 on any.
//   risk       — nothing is lost today, but one more failure or one more setting loses data (no replica to fail
//                over to, dead letters dropped at most once, a consumer group close to its retention).
//   info       — a fact worth knowing, or a setting the doctor could not see from where it stands (say which).
import { formatTable } from '../output.js';

export type Severity = 'loses-data' | 'risk' | 'info';

/** The severities, worst first (the report's sort order). */
export const SEVERITIES: readonly Severity[] = ['loses-data', 'risk', 'info'];

/** One setting that decides whether a message can be lost. */
export interface Finding {
  readonly severity: Severity;
  /** Stable id, `<broker>.<object>.<problem>`, e.g. 'rabbitmq.queue.non-durable'. */
  readonly rule: string;
  /** What it is about: a queue, an exchange, a topic, a consumer group, a broker. */
  readonly subject: string;
  /** What is set. */
  readonly what: string;
  /** Why that risks loss. */
  readonly why: string;
  /** How to fix it. */
  readonly fix: string;
}

/** The result of one doctor run. */
export interface DoctorReport {
  readonly adapter: 'rabbitmq' | 'kafka' | 'rocketmq';
  /** The broker's product name and version, as far as it tells (e.g. 'RabbitMQ 3.10.8'). */
  readonly broker: string;
  /** Worst first, then by subject and rule. */
  readonly findings: Finding[];
  /** What was inspected, one line each ('queue orders.warehouse', 'broker config of broker-a'). */
  readonly checked: string[];
}

/** Findings sorted worst first, then by subject, then by rule. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
      a.subject.localeCompare(b.subject) ||
      a.rule.localeCompare(b.rule),
  );
}

/** Whether the report holds a finding that loses data (the doctor's exit code 1). */
export function losesData(report: DoctorReport): boolean {
  return report.findings.some((f) => f.severity === 'loses-data');
}

/**
 * The report as text: a header line, the findings table (severity, rule, subject, what), then each finding's
 * why and fix below it, then what was checked and a one-line summary.
 */
export function formatDoctorReport(report: DoctorReport): string {
  const out: string[] = [`lossless doctor: ${report.adapter} — ${report.broker}`, ''];
  if (report.findings.length === 0) out.push('No findings.');
  else {
    out.push(
      formatTable(
        ['#', 'SEVERITY', 'RULE', 'SUBJECT', 'WHAT'],
        report.findings.map((f, i) => [i + 1, f.severity, f.rule, f.subject, f.what]),
      ),
      '',
    );
    report.findings.forEach((f, i) => {
      out.push(`${i + 1}. ${f.rule} — ${f.subject}`, `   why: ${f.why}`, `   fix: ${f.fix}`);
    });
  }
  out.push('', `checked: ${report.checked.length === 0 ? 'nothing' : report.checked.join('; ')}`);
  const count = (s: Severity) => report.findings.filter((f) => f.severity === s).length;
  out.push(
    `${count('loses-data')} loses-data, ${count('risk')} risk, ${count('info')} info` +
      (count('loses-data') > 0 ? ' — a confirmed message can be lost as configured' : ''),
  );
  return out.join('\n');
}
