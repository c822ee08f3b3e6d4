/**
 * Free loopback ports for tests that start a server of their own (a broker on
 * a port block): a fixed port fails whenever another process on the machine
 * holds it.
 *
 * @module
 */

/** Whether nothing listens on `port` of 127.0.0.1 right now. */
export function isPortFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

/**
 * The first port of `size` consecutive loopback ports that are all free now
 * (a broker takes its client port and the ones after it). Chosen at random in
 * 20000..31999, below Linux's ephemeral range (32768..60999), where any outgoing
 * connection may take a port between the check and the broker's bind; random
 * so that parallel test runs rarely meet.
 */
export function freePortBlock(size: number): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 12_000);
    let free = true;
    for (let port = first; port < first + size && free; port++) free = isPortFree(port);
    if (free) return first;
  }
  throw new Error(`No ${size} consecutive free loopback ports found`);
}
