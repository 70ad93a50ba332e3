// What a non-success answer of RocketMQ's remoting protocol means, as rows of lossless's error table: one row
// per response code (org.apache.rocketmq.remoting.protocol.ResponseCode) the name server or a broker answers an
// admin request with, keyed 'remoting:N'. The admin throws through remotingErrorRow; the RocketMQ driver spreads
// these rows into its own ERROR_TABLE.
import { ErrorCode, type ErrorRow } from '@lossless/core/driver';

/** The remoting rows, keyed `remoting:<ResponseCode>`. */
export const REMOTING_ERROR_TABLE: ReadonlyMap<`remoting:${number}`, ErrorRow> = new Map<
  `remoting:${number}`,
  ErrorRow
>([
  // 1 SYSTEM_ERROR / 2 SYSTEM_BUSY: the server failed or is overloaded.
  ['remoting:1', { code: ErrorCode.UNAVAILABLE, meaning: 'system error' }],
  ['remoting:2', { code: ErrorCode.UNAVAILABLE, meaning: 'system busy' }],
  // 14 SERVICE_NOT_AVAILABLE: broker shutting down or a slave.
  ['remoting:14', { code: ErrorCode.UNAVAILABLE, meaning: 'service not available' }],
  // 16 NO_PERMISSION (ResponseCode.NO_PERMISSION): the broker's ACL refused the admin's request, or the broker
  // or topic is not writable / readable (perm).
  ['remoting:16', { code: ErrorCode.PERMISSION_DENIED, meaning: 'no permission' }],
  // 17 TOPIC_NOT_EXIST / 26 SUBSCRIPTION_GROUP_NOT_EXIST.
  ['remoting:17', { code: ErrorCode.NOT_FOUND, meaning: 'topic does not exist' }],
  ['remoting:26', { code: ErrorCode.NOT_FOUND, meaning: 'subscription group does not exist' }],
  // 29 INVALID_PARAMETER: an illegal topic or group name, or MIXED message type.
  ['remoting:29', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'invalid parameter' }],
]);

/** The row for a remoting response code (INTERNAL, not retriable, for codes the table does not know). */
export function remotingErrorRow(code: number): ErrorRow {
  return (
    REMOTING_ERROR_TABLE.get(`remoting:${code}`) ?? {
      code: ErrorCode.INTERNAL,
      meaning: 'refused by the server',
    }
  );
}
