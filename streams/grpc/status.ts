import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { messageOf, statusOf } from '../../operators/core/errors.js';

/** Any thrown value as a grpc-js error for a callback or stream: proper code, no stack trace. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const code = statusOf(err);
  const details = messageOf(err);
  return { name: status[code], message: details, code, details, metadata: new Metadata() };
}
