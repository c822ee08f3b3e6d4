// The part of kafkajs 2.2.4's untyped protocol encoder that `_kafkajs_patches.ts` replaces.
declare class Encoder {
  static encodeZigZag(value: number): number;
  static encodeZigZag64(value: unknown): { value: bigint };
  constructor(initialSize?: number);
  buf: Uint8Array;
  offset: number;
  writeInt8(value: number): Encoder;
  writeBufferInternal(buffer: Uint8Array): void;
  ensureAvailable(length: number): void;
  /** The bytes written so far. */
  readonly buffer: Uint8Array;
  writeVarInt(value: number): Encoder;
  writeUVarInt(value: number): Encoder;
  writeVarLong(value: unknown): Encoder;
  writeInt16(value: number): Encoder;
  writeInt32(value: number): Encoder;
  writeUInt32(value: number): Encoder;
  writeInt64(value: unknown): Encoder;
  writeString(value: string | null): Encoder;
  writeArray(values: readonly unknown[]): Encoder;
  writeEncoder(value: Encoder): Encoder;
  size(): number;
}
export default Encoder;
