/**
 * Where an OAUTHBEARER token comes from (ClientConfig's `sasl.oauthBearer`):
 * a file, a command's output, or librdkafka's unsecured JWT. Shared by the
 * Kafka client adapters; it imports no Kafka library.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { OauthBearerTokenSource } from "./config.ts";
import { KafkaClientError } from "./client.ts";

/**
 * Reads an OAUTHBEARER token from its source (exported for tests). A failure
 * names the file or the command, never the token or the command's output.
 */
export async function oauthBearerToken(source: OauthBearerTokenSource): Promise<string> {
  let token: string;
  if (source.kind === "file") {
    try {
      token = (await Deno.readTextFile(source.path)).trim();
    } catch (error) {
      throw new KafkaClientError(
        `Cannot read the OAUTHBEARER token file ${JSON.stringify(source.path)} ` +
          `(rivulet.sasl.oauthbearer.token.file): ${(error as Error).name}`,
        { retriable: false },
      );
    }
  } else if (source.kind === "command") {
    const [program, ...args] = source.command;
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(program, { args, stdout: "piped", stderr: "null" }).output();
    } catch (error) {
      throw new KafkaClientError(
        `Cannot run the OAUTHBEARER token command ${JSON.stringify(program)} ` +
          `(rivulet.sasl.oauthbearer.token.command): ${(error as Error).name}` +
          (error instanceof Deno.errors.NotCapable
            ? ` (grant it with --allow-run=${program})`
            : ""),
        { retriable: false },
      );
    }
    if (!output.success) {
      throw new KafkaClientError(
        `The OAUTHBEARER token command ${JSON.stringify(program)} ` +
          `(rivulet.sasl.oauthbearer.token.command) exited with code ${output.code}`,
        { retriable: false },
      );
    }
    token = new TextDecoder().decode(output.stdout).trim();
  } else {
    return unsecuredJwt(source);
  }
  if (token === "") {
    throw new KafkaClientError(
      `The OAUTHBEARER token ${
        source.kind === "file" ? `file ${JSON.stringify(source.path)}` : "command"
      } gave an empty token`,
      { retriable: false },
    );
  }
  return token;
}

/** librdkafka's unsecured JWT: `{"alg":"none"}`, the principal as `sub`, no signature. */
function unsecuredJwt(source: Extract<OauthBearerTokenSource, { kind: "unsecured-jwt" }>): string {
  const now = Date.now() / 1000;
  const claims: Record<string, unknown> = {
    sub: source.principal,
    iat: now,
    exp: now + source.lifeSeconds,
  };
  if (source.scope.length > 0) claims.scope = source.scope;
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part(claims)}.`;
}
