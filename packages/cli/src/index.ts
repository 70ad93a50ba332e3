// @lossless/cli: the operations API (dead letters, the doctor) and the `lossless` command on top of it.
export {
  ADAPTERS,
  type AdapterName,
  type CliConnection,
  CONNECTION_FLAGS,
  type ConnectionFlags,
  driverFor,
  ENV,
  resolveConnection,
} from './connection.js';
