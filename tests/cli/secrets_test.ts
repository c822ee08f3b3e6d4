/**
 * A password fed through every file the command reads — settings file, config
 * file (inline settings and flags), an environment variable a setting refers
 * to, TLS material, a transform module — broken in several ways, through every command that reads
 * it (run, check, tail): it appears in no output, stdout or stderr, and every
 * command fails as a usage error (exit 2) naming the file instead.
 */
import assert from "node:assert/strict";
import { root, spawnRivulet } from "./_rivulet.ts";
import { testMaterial } from "../security/_material.ts";

/** Digits only, so that it also fits where a number is expected. */
const secret = String(700_000_000 + Math.floor(Math.random() * 99_999_999));
/** With a "/": as a broker list it is not host:port (a valid host name is a broker to name). */
const password = `Kq${secret}/x`;

interface Case {
  readonly name: string;
  /** Files to write in the case's folder: name -> text. */
  readonly files: Record<string, string>;
  /**
   * `settings` (a settings file: run, check, tail), `config` (a config file: run, check) or
   * `transform` (a transform module that does not load: run, check).
   */
  readonly kind: "settings" | "config" | "transform";
}

const sasl = (extra: string) =>
  `{"bootstrap.servers": "127.0.0.1:1", "group.id": "g", "security.protocol": "sasl_plaintext",
  "sasl.mechanism": "PLAIN", "sasl.username": "u", ${extra}}`;

function cases(material: string): Case[] {
  return [
    {
      name: "settings: the password left unquoted (not JSON)",
      kind: "settings",
      files: { "settings.json": sasl(`"sasl.password": ${password}}}`) },
    },
    {
      name: "settings: the password as a number",
      kind: "settings",
      files: { "settings.json": sasl(`"sasl.password": ${secret}`) },
    },
    {
      name: "settings: the password under another key",
      kind: "settings",
      files: {
        "settings.json":
          `{"bootstrap.servers": "${password}", "group.id": "g", "session.timeout.ms": "${password}"}`,
      },
    },
    {
      name: "settings: the password under a misspelt key",
      kind: "settings",
      files: { "settings.json": sasl(`"sasl.pasword": "${password}"`) },
    },
    {
      name: "settings: the password from the environment, under keys that reject it",
      kind: "settings",
      files: {
        "settings.json": `{"bootstrap.servers": "127.0.0.1:1", "group.id": "g",
          "auto.offset.reset": "\${RIVULET_TEST_SECRET}", "sasl.password": "\${RIVULET_TEST_SECRET}"}`,
      },
    },
    {
      name: "settings: the environment's password as a broker list",
      kind: "settings",
      files: {
        "settings.json":
          `{"bootstrap.servers": "\${RIVULET_TEST_SECRET}:x", "group.id": "g", "security.protocol": "x\${RIVULET_TEST_SECRET}"}`,
      },
    },
    {
      name: "settings: TLS material that is the password, not PEM",
      kind: "settings",
      files: {
        "not-a-ca.pem": `password=${password}\n`,
        "settings.json": `{"bootstrap.servers": "127.0.0.1:1", "group.id": "g",
          "security.protocol": "ssl", "ssl.ca.location": "not-a-ca.pem"}`,
      },
    },
    {
      name: "settings: a wrong key password for an encrypted key",
      kind: "settings",
      files: {
        "settings.json": JSON.stringify({
          "bootstrap.servers": "127.0.0.1:1",
          "group.id": "g",
          "security.protocol": "ssl",
          "ssl.ca.location": `${material}/ca.pem`,
          "ssl.certificate.location": `${material}/client-cert.pem`,
          "ssl.key.location": `${material}/client-key-encrypted.pem`,
          "ssl.key.password": password,
        }),
      },
    },
    {
      name: "settings: a client key file holding the password",
      kind: "settings",
      files: {
        "key.pem": `-----BEGIN PRIVATE KEY-----\n${password}\n-----END PRIVATE KEY-----\n`,
        "settings.json": JSON.stringify({
          "bootstrap.servers": "127.0.0.1:1",
          "group.id": "g",
          "security.protocol": "ssl",
          "ssl.certificate.location": `${material}/client-cert.pem`,
          "ssl.key.location": "key.pem",
        }),
      },
    },
    {
      name: "config: inline settings with the password unquoted (not JSON)",
      kind: "config",
      files: {
        "config.json":
          `{"transform": "${root}examples/sum.ts", "topic": "t", "format": "csv", "columns": "value",
          "settings": {"bootstrap.servers": "127.0.0.1:1", "sasl.password": ${password}}}`,
      },
    },
    {
      name: "config: inline settings with the password under a key that rejects it",
      kind: "config",
      files: {
        "config.json": JSON.stringify({
          transform: `${root}examples/sum.ts`,
          topic: "t",
          format: "csv",
          columns: "value",
          settings: { "bootstrap.servers": password, "auto.offset.reset": password },
        }),
      },
    },
    {
      name: "config: the password as a flag's value",
      kind: "config",
      files: {
        "config.json": JSON.stringify({
          transform: `${root}examples/sum.ts`,
          topic: "t",
          format: "csv",
          quiet: password,
        }),
      },
    },
    {
      name: "transform: a syntax error on the line holding the password",
      kind: "transform",
      files: {
        "transform.ts":
          `export default (t: unknown) => {\n  const password = "${password}" x;\n  return t;\n};\n`,
      },
    },
  ];
}

function commands(kind: Case["kind"], dir: string): string[][] {
  const pipeline = ["--transform", `${root}examples/sum.ts`, "--topic", "t", "--format", "csv"];
  if (kind === "transform") {
    const transform = ["--transform", `${dir}/transform.ts`, "--format", "csv"];
    return [
      ["run", ...transform, "--input", `${root}examples/connector_example.txt`],
      ["check", ...transform, "--input", `${root}examples/connector_example.txt`],
    ];
  }
  if (kind === "config") {
    return [["run", "--config", `${dir}/config.json`], ["check", "--config", `${dir}/config.json`]];
  }
  const settings = ["--settings", `${dir}/settings.json`];
  return [
    ["run", ...pipeline, "--columns", "value", ...settings],
    ["check", ...pipeline, "--columns", "value", ...settings],
    ["tail", "t", ...settings, "--exit-after-idle", "1000"],
  ];
}

Deno.test("a password in any file the command reads, broken in any of several ways, appears in no output of run, check or tail", async () => {
  const material = await testMaterial();
  let runs = 0;
  for (const c of cases(material)) {
    const dir = await Deno.makeTempDir({ prefix: "rivulet-secret-" });
    for (const [name, text] of Object.entries(c.files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    for (const args of commands(c.kind, dir)) {
      const output = await spawnRivulet(args, {
        // check type-checks a transform with deno when it may run it: its diagnostics too.
        flags: ["--allow-run"],
        cwd: dir,
        env: { NO_COLOR: "1", RIVULET_TEST_SECRET: password },
      }).output();
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      const label = `${c.name}, rivulet ${args[0]}`;
      assert.ok(!text.includes(secret), `${label} shows the password:\n${text}`);
      assert.equal(output.code, 2, `${label} is a usage error:\n${text}`);
      assert.match(
        text,
        /settings|config|ssl|Setting|transform/i,
        `${label} names what is wrong:\n${text}`,
      );
      runs++;
    }
  }
  assert.equal(runs, 9 * 3 + 3 * 2 + 2);
});
