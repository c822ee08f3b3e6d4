// The part of kafkajs 2.2.4's untyped protocol decoder the patch test reads with.
declare class Decoder {
  constructor(buffer: Uint8Array);
  readVarInt(): number;
  readVarLong(): { toString(): string };
}
export default Decoder;
