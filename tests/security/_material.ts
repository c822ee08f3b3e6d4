/**
 * Test certificates and keys without a broker: scripts/kafka/security.sh run
 * once per test process into a temporary folder.
 *
 * @module
 */
const script = new URL("../../scripts/kafka/security.sh", import.meta.url).pathname;

let made: Promise<string> | undefined;

/** The folder holding ca.pem, client-cert.pem, ... (see scripts/kafka/security.sh). */
export function testMaterial(): Promise<string> {
  made ??= (async () => {
    const dir = `${await Deno.makeTempDir({ prefix: "rivulet-security-" })}/material`;
    const output = await new Deno.Command("bash", { args: [script, dir], stderr: "piped" })
      .output();
    if (output.code !== 0) {
      throw new Error(`security.sh failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    return dir;
  })();
  return made;
}

/** The key password security.sh generated for client-key-encrypted.pem. */
export async function materialKeyPassword(dir: string): Promise<string> {
  const env = await Deno.readTextFile(`${dir}/secrets.env`);
  return /^KEY_PASSWORD=(.*)$/m.exec(env)?.[1] ?? "";
}
