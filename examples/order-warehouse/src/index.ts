// The order → warehouse example shared by every broker: the order service, the warehouse service, the
// scenario runner with its crashes, and the command line the broker examples call.

export { Conditions, type Deferred, deferred } from './conditions.js';
export { type OrderPaid, OrderPaidPublisher, orderTopology, WAREHOUSE_SUBSCRIPTION } from './events.js';
export { type LedgerLine, readLedger, ShipmentLedger } from './ledger.js';
export { exampleMain, parseScenarioArgs } from './main.js';
export { OrderService, orderServiceContainer, startOrderService } from './order-service.js';
export {
  type KillPoint,
  PG_ROLE_ENV,
  type PgRoleConfig,
  type PgRoleEvent,
  pgTopology,
  runPgRole,
} from './pg-roles.js';
export {
  formatPgAccounting,
  type PgAccounting,
  type PgScenarioOptions,
  runPgScenario,
} from './pg-scenario.js';
export { type Accounting, formatAccounting, progress, quietLogger } from './report.js';
export { runScenario, type ScenarioOptions } from './scenario.js';
export {
  AdapterUnavailableError,
  type Driver,
  type DriverFactory,
  type ExampleTarget,
  entryBeside,
  loadAdapter,
} from './target.js';
export { runTraced, type TracedRun } from './traced.js';
export {
  runWarehouse,
  ShipOrderHandler,
  WAREHOUSE_ENV,
  type WarehouseConfig,
  type WarehouseEvent,
} from './warehouse.js';
