/**
 * The shape ts-proto gives each method of a grpc-js service definition. Method syntax keeps the
 * codec functions bivariant, so any concrete definition fits `MethodDef<unknown, unknown>`.
 */
export interface MethodDef<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  requestSerialize(value: Req): Buffer;
  requestDeserialize(value: Buffer): Req;
  responseSerialize(value: Res): Buffer;
  responseDeserialize(value: Buffer): Res;
}
