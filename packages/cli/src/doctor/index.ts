// The durability doctor: `doctor(connection)` audits a broker and what lossless declared on it,
// `formatDoctorReport` prints the result, `doctorCommand` is `lossless doctor`.
export { DOCTOR_HELP, doctorCommand } from './command.js';
export { type DoctorOptions, doctor, parseSubscription } from './doctor.js';
export {
  type DoctorReport,
  type Finding,
  formatDoctorReport,
  losesData,
  SEVERITIES,
  type Severity,
} from './report.js';
