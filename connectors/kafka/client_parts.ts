/**
 * The parts (consumers, producers, admins) a `KafkaClient` made and
 * that are still connected, so that the client's `close()` disconnects what
 * their owners left open. Every adapter keeps its parts the same way.
 *
 * @module
 */

/** Something a client makes that connects and disconnects. */
export interface ClientPart {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

/** The connected parts of one client. */
export class ClientParts {
  readonly #live = new Set<ClientPart>();
  readonly #beforeConnect: () => Promise<void>;

  /** @param beforeConnect runs before each part connects (an adapter's first-connection check). */
  constructor(beforeConnect: () => Promise<void>) {
    this.#beforeConnect = beforeConnect;
  }

  /** Wraps `part` so that it is counted live from its connect until its disconnect. */
  track<Part extends ClientPart>(part: Part): Part {
    const connect = part.connect.bind(part);
    const disconnect = part.disconnect.bind(part);
    return Object.assign(part, {
      connect: async () => {
        this.#live.add(part);
        await this.#beforeConnect();
        await connect();
      },
      disconnect: async () => {
        this.#live.delete(part);
        await disconnect();
      },
    });
  }

  /** Disconnects every part still live (the client's `KafkaClient.close()`). */
  async closeAll(): Promise<void> {
    const left = [...this.#live];
    this.#live.clear();
    await Promise.allSettled(left.map((part) => part.disconnect()));
  }
}
