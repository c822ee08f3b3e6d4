/**
 * The librdkafka settings translation: every key, bad values, environment
 * references, warnings, TLS material checks, and secrets that never show.
 */
import assert from "node:assert/strict";
import {
  isSecretSetting,
  type KafkaSettings,
  loadSettingsFile,
  redactSettings,
  SettingsError,
  SettingsFileError,
  type TranslateOptions,
  translateSettings,
  translateSettingsOnce,
} from "../../connectors/kafka/settings.ts";
import * as rw from "../../mod.ts";
import { loadSettings } from "../../cli/settings_file.ts";
import { materialKeyPassword, testMaterial } from "./_material.ts";

const password = "pw-Zebra-4417-never-shown";
const noEnv: TranslateOptions = { env: () => undefined };

/** Translation that must fail: returns the SettingsError. */
function translationError(settings: KafkaSettings, options: TranslateOptions = noEnv) {
  try {
    translateSettings(settings, options);
  } catch (error) {
    assert.ok(error instanceof SettingsError, `expected a SettingsError, got ${error}`);
    return error;
  }
  assert.fail(`settings were accepted: ${JSON.stringify(redactSettings(settings))}`);
}

const base = { "bootstrap.servers": "127.0.0.1:9092" };
const seedLike = {
  "bootstrap.servers": "broker.example.com:9093",
  "security.protocol": "sasl_ssl",
  "sasl.mechanism": "SCRAM-SHA-256",
  "group.id": "sums",
  "session.timeout.ms": "6000",
  "sasl.username": "username",
  "sasl.password": password,
};

Deno.test("the seed's settings translate to SCRAM-SHA-256 over TLS with the system's CAs", () => {
  const { config, warnings } = translateSettings(seedLike, noEnv);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.brokers, ["broker.example.com:9093"]);
  assert.equal(config.groupId, "sums");
  assert.equal(config.sessionTimeoutMs, 6000);
  assert.equal(config.sasl?.mechanism, "scram-sha-256");
  assert.equal(config.sasl?.username, "username");
  assert.equal(config.sasl?.password, password);
  assert.deepEqual({ ...config.tls }, { verifyCertificates: true });
});

Deno.test("every translated key reaches the client configuration", async () => {
  const dir = await testMaterial();
  const keyPassword = await materialKeyPassword(dir);
  const { config, warnings } = translateSettings({
    "bootstrap.servers": "a.example:9092, b.example:9093,[::1]:9094,c.example",
    "group.id": "g1",
    "client.id": "c1",
    "session.timeout.ms": "10000",
    "heartbeat.interval.ms": "3000",
    "auto.offset.reset": "latest",
    "security.protocol": "SASL_SSL",
    "sasl.mechanisms": "scram-sha-512",
    "sasl.username": "alice",
    "sasl.password": password,
    "ssl.ca.location": `${dir}/ca.pem`,
    "ssl.certificate.location": `${dir}/client-cert.pem`,
    "ssl.key.location": `${dir}/client-key-encrypted.pem`,
    "ssl.key.password": keyPassword,
    "enable.ssl.certificate.verification": "true",
    "ssl.endpoint.identification.algorithm": "https",
    "socket.connection.setup.timeout.ms": "2500",
    "message.max.bytes": "2000000",
  }, noEnv);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.brokers, [
    "a.example:9092",
    "b.example:9093",
    "[::1]:9094",
    "c.example:9092",
  ]);
  assert.equal(config.groupId, "g1");
  assert.equal(config.clientId, "c1");
  assert.equal(config.sessionTimeoutMs, 10000);
  assert.equal(config.heartbeatIntervalMs, 3000);
  assert.equal(config.autoOffsetReset, "latest");
  assert.equal(config.connectionTimeoutMs, 2500);
  assert.equal(config.maxRequestBytes, 2000000);
  assert.equal(config.sasl?.mechanism, "scram-sha-512");
  assert.equal(config.sasl?.username, "alice");
  assert.equal(config.sasl?.password, password);
  assert.equal(config.tls?.ca, await Deno.readTextFile(`${dir}/ca.pem`));
  assert.equal(config.tls?.cert, await Deno.readTextFile(`${dir}/client-cert.pem`));
  assert.equal(config.tls?.key, await Deno.readTextFile(`${dir}/client-key-encrypted.pem`));
  assert.equal(config.tls?.keyPassword, keyPassword);
  assert.equal(config.tls?.verifyCertificates, true);
});

Deno.test("plaintext settings have defaults and no TLS or SASL", () => {
  const { config } = translateSettings(base, noEnv);
  assert.deepEqual(config, {
    brokers: ["127.0.0.1:9092"],
    clientId: "rivulet",
    autoOffsetReset: "earliest",
  });
});

Deno.test("security.protocol and sasl.mechanism are accepted in any case", () => {
  for (const protocol of ["sasl_plaintext", "SASL_PLAINTEXT", "Sasl_Plaintext"]) {
    for (const mechanism of ["PLAIN", "plain", "Scram-Sha-256", "SCRAM-SHA-512"]) {
      const { config } = translateSettings({
        ...base,
        "security.protocol": protocol,
        "sasl.mechanism": mechanism,
        "sasl.username": "u",
        "sasl.password": password,
      }, noEnv);
      assert.equal(config.sasl?.mechanism, mechanism.toLowerCase());
      assert.equal(config.tls, undefined);
    }
  }
  assert.deepEqual(
    { ...translateSettings({ ...base, "security.protocol": "SSL" }, noEnv).config.tls },
    { verifyCertificates: true },
  );
});

Deno.test("auto.offset.reset accepts librdkafka's aliases", () => {
  const cases = {
    earliest: "earliest",
    smallest: "earliest",
    beginning: "earliest",
    latest: "latest",
    largest: "latest",
    end: "latest",
  } as const;
  for (const [given, expected] of Object.entries(cases)) {
    const { config } = translateSettings({ ...base, "auto.offset.reset": given }, noEnv);
    assert.equal(config.autoOffsetReset, expected, given);
  }
  const error = translationError({ ...base, "auto.offset.reset": "oldest" });
  assert.equal(error.key, "auto.offset.reset");
  assert.match(error.message, /must be earliest .* or latest/);
  assert.ok(!error.message.includes("oldest"), "the value from the file is not quoted");
});

Deno.test("bad values are errors naming the key and what it must be, never the value (it may come from a file)", () => {
  const cases: [KafkaSettings, string, RegExp][] = [
    [{}, "bootstrap.servers", /is required/],
    [
      { "bootstrap.servers": "host:99999" },
      "bootstrap.servers",
      /host:port pairs.*entry 1 is not one/,
    ],
    [{ "bootstrap.servers": "host:port" }, "bootstrap.servers", /host:port pairs/],
    [{ ...base, "session.timeout.ms": "6s" }, "session.timeout.ms", /whole number of milliseconds/],
    [{ ...base, "heartbeat.interval.ms": "-1" }, "heartbeat.interval.ms", /whole number/],
    [{ ...base, "heartbeat.interval.ms": "1.5" }, "heartbeat.interval.ms", /whole number/],
    [
      { ...base, "socket.connection.setup.timeout.ms": "" },
      "socket.connection.setup.timeout.ms",
      /whole number/,
    ],
    [{ ...base, "message.max.bytes": "10" }, "message.max.bytes", /from 1000/],
    [
      { ...base, "session.timeout.ms": "6000", "heartbeat.interval.ms": "6000" },
      "heartbeat.interval.ms",
      /less than session\.timeout\.ms/,
    ],
    [
      { ...base, "security.protocol": "tls" },
      "security.protocol",
      /plaintext, ssl, sasl_plaintext or sasl_ssl/,
    ],
    [
      { ...base, "security.protocol": "sasl_ssl", "sasl.mechanism": "GSSAPI" },
      "sasl.mechanism",
      /PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER/,
    ],
    [{ ...base, "security.protocol": "sasl_ssl" }, "sasl.mechanism", /is required/],
    [
      { ...base, "security.protocol": "sasl_ssl", "sasl.mechanism": "PLAIN", "sasl.password": "x" },
      "sasl.username",
      /is required/,
    ],
    [
      { ...base, "security.protocol": "sasl_ssl", "sasl.mechanism": "PLAIN", "sasl.username": "u" },
      "sasl.password",
      /is required/,
    ],
    [
      {
        ...base,
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "PLAIN",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "u",
        "sasl.password": "p",
      },
      "sasl.mechanisms",
      /give only one/,
    ],
    [
      { ...base, "security.protocol": "ssl", "enable.ssl.certificate.verification": "maybe" },
      "enable.ssl.certificate.verification",
      /true or false/,
    ],
    [
      { ...base, "security.protocol": "ssl", "ssl.endpoint.identification.algorithm": "ftp" },
      "ssl.endpoint.identification.algorithm",
      /https or none/,
    ],
  ];
  for (const [settings, key, message] of cases) {
    const error = translationError(settings);
    assert.equal(error.key, key, error.message);
    assert.match(error.message, new RegExp(`^Setting "${key.replaceAll(".", "\\.")}"`));
    assert.match(error.message, message);
    for (const [name, value] of Object.entries(settings)) {
      if (name === key && value.length > 0) {
        assert.ok(!error.message.includes(`"${value}"`), `${error.message} quotes ${value}`);
      }
    }
  }
});

Deno.test("a missing CA file is an error naming the key and the path", () => {
  const error = translationError({
    ...base,
    "security.protocol": "ssl",
    "ssl.ca.location": "/nonexistent/ca.pem",
  });
  assert.equal(error.key, "ssl.ca.location");
  assert.match(error.message, /does not exist: "\/nonexistent\/ca\.pem"/);
});

Deno.test("a CA file without a certificate is an error", async () => {
  const dir = await testMaterial();
  const error = translationError({
    ...base,
    "security.protocol": "ssl",
    "ssl.ca.location": `${dir}/secrets.env`,
  });
  assert.equal(error.key, "ssl.ca.location");
  assert.match(error.message, /holds no PEM certificate/);
});

Deno.test("a CA folder contributes all its certificates", async () => {
  const dir = await testMaterial();
  const folder = await Deno.makeTempDir();
  await Deno.copyFile(`${dir}/ca.pem`, `${folder}/a.pem`);
  await Deno.copyFile(`${dir}/other-ca.pem`, `${folder}/b.crt`);
  const { config } = translateSettings({
    ...base,
    "security.protocol": "ssl",
    "ssl.ca.location": folder,
  }, noEnv);
  assert.equal(config.tls?.ca?.match(/BEGIN CERTIFICATE/g)?.length, 2);
});

Deno.test("a client key without its certificate, or the reverse, is an error", async () => {
  const dir = await testMaterial();
  const tls = { ...base, "security.protocol": "ssl" };
  const keyOnly = translationError({ ...tls, "ssl.key.location": `${dir}/client-key.pem` });
  assert.equal(keyOnly.key, "ssl.certificate.location");
  assert.match(keyOnly.message, /is required with ssl\.key\.location/);
  const certOnly = translationError({
    ...tls,
    "ssl.certificate.location": `${dir}/client-cert.pem`,
  });
  assert.equal(certOnly.key, "ssl.key.location");
});

Deno.test("client certificates are checked before connecting: expiry, key match, key password", async () => {
  const dir = await testMaterial();
  const keyPassword = await materialKeyPassword(dir);
  const tls = { ...base, "security.protocol": "ssl", "ssl.ca.location": `${dir}/ca.pem` };

  const expired = translationError({
    ...tls,
    "ssl.certificate.location": `${dir}/expired-client-cert.pem`,
    "ssl.key.location": `${dir}/expired-client-key.pem`,
  });
  assert.equal(expired.key, "ssl.certificate.location");
  assert.match(expired.message, /expired on 2020-01-02T00:00:00\.000Z/);

  const mismatched = translationError({
    ...tls,
    "ssl.certificate.location": `${dir}/client-cert.pem`,
    "ssl.key.location": `${dir}/other-client-key.pem`,
  });
  assert.equal(mismatched.key, "ssl.key.location");
  assert.match(mismatched.message, /does not belong to the certificate/);

  const encrypted = {
    ...tls,
    "ssl.certificate.location": `${dir}/client-cert.pem`,
    "ssl.key.location": `${dir}/client-key-encrypted.pem`,
  };
  const noPassword = translationError(encrypted);
  assert.equal(noPassword.key, "ssl.key.password");
  assert.match(noPassword.message, /is required: the key in file .* is encrypted/);

  const wrongPassword = translationError({ ...encrypted, "ssl.key.password": password });
  assert.equal(wrongPassword.key, "ssl.key.password");
  assert.match(wrongPassword.message, /does not decrypt the key/);
  assert.ok(!wrongPassword.message.includes(password));

  const { config } = translateSettings({ ...encrypted, "ssl.key.password": keyPassword }, noEnv);
  assert.equal(config.tls?.keyPassword, keyPassword);
});

Deno.test("inline PEM values work like files, and not together with a file", async () => {
  const dir = await testMaterial();
  const ca = await Deno.readTextFile(`${dir}/ca.pem`);
  const { config } = translateSettings({
    ...base,
    "security.protocol": "ssl",
    "ssl.ca.pem": ca,
    "ssl.certificate.pem": await Deno.readTextFile(`${dir}/client-cert.pem`),
    "ssl.key.pem": await Deno.readTextFile(`${dir}/client-key.pem`),
  }, noEnv);
  assert.equal(config.tls?.ca, ca);
  const both = translationError({
    ...base,
    "security.protocol": "ssl",
    "ssl.ca.pem": ca,
    "ssl.ca.location": `${dir}/ca.pem`,
  });
  assert.equal(both.key, "ssl.ca.pem");
});

Deno.test("turning certificate verification off is allowed, with a warning", () => {
  const { config, warnings } = translateSettings({
    ...base,
    "security.protocol": "ssl",
    "enable.ssl.certificate.verification": "false",
  }, noEnv);
  assert.equal(config.tls?.verifyCertificates, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /"enable\.ssl\.certificate\.verification" is false/);
});

Deno.test("environment references are resolved, and a missing variable is named", () => {
  const env: Record<string, string> = { KAFKA_PASSWORD: password, HOST: "k1.example" };
  const options = { env: (name: string) => env[name] };
  const { config } = translateSettings({
    "bootstrap.servers": "${HOST}:9093",
    "security.protocol": "sasl_plaintext",
    "sasl.mechanism": "PLAIN",
    "sasl.username": "lit$${eral}",
    "sasl.password": "${KAFKA_PASSWORD}",
  }, options);
  assert.deepEqual(config.brokers, ["k1.example:9093"]);
  assert.equal(config.sasl?.password, password);
  assert.equal(config.sasl?.username, "lit${eral}");

  const missing = translationError({ ...base, "sasl.password": "${NOT_SET_ANYWHERE}" }, options);
  assert.equal(missing.key, "sasl.password");
  assert.match(missing.message, /environment variable NOT_SET_ANYWHERE, which is not set/);

  const malformed = translationError({ ...base, "group.id": "${not a name}" }, options);
  assert.match(malformed.message, /malformed environment reference: write/);
});

Deno.test("an environment reference without permission says which --allow-env to grant", () => {
  const denied = translationError({ ...base, "sasl.password": "${KAFKA_PASSWORD}" }, {
    env: () => {
      throw new Deno.errors.NotCapable("Requires env access");
    },
  });
  assert.match(denied.message, /--allow-env=KAFKA_PASSWORD/);
});

Deno.test("unknown keys are warned about by name, with a suggestion for a typo", () => {
  const { warnings } = translateSettings({
    ...base,
    "sasl.usernme": "alice",
    "frobnicate.everything": "yes",
  }, noEnv);
  assert.deepEqual(warnings.slice(0, 2), [
    'Unknown setting "sasl.usernme" is ignored (did you mean "sasl.username"?)',
    'Unknown setting "frobnicate.everything" is ignored',
  ]);
});

Deno.test("librdkafka keys rivulet ignores are warned about with the reason", () => {
  const { warnings } = translateSettings({
    ...base,
    "enable.auto.commit": "true",
    "group.instance.id": "a",
  }, noEnv);
  assert.equal(warnings.length, 2);
  assert.match(
    warnings[0],
    /"enable\.auto\.commit" is a librdkafka setting rivulet ignores: .*commits offsets itself/,
  );
  assert.match(warnings[1], /"group\.instance\.id" is a librdkafka setting rivulet ignores/);
});

Deno.test("SASL and TLS keys that the protocol does not use are warned about", () => {
  const { config, warnings } = translateSettings({
    ...base,
    "sasl.username": "alice",
    "sasl.password": password,
    "ssl.ca.location": "/nonexistent/ca.pem",
  }, noEnv);
  assert.equal(config.sasl, undefined);
  assert.equal(config.tls, undefined);
  assert.equal(warnings.length, 3);
  for (const warning of warnings) {
    assert.match(warning, /is ignored: security\.protocol is "plaintext"/);
  }
});

Deno.test("a secret never appears in an error, a warning, or a printed config", async () => {
  const dir = await testMaterial();
  const keyPassword = await materialKeyPassword(dir);
  const keyText = await Deno.readTextFile(`${dir}/client-key.pem`);
  const keyBody = keyText.split("\n")[1];
  const secretSettings = {
    "sasl.password": password,
    "ssl.key.password": password,
  };
  const failing: KafkaSettings[] = [
    { "sasl.password": password },
    { ...base, ...secretSettings, "security.protocol": "sasl_ssl" },
    {
      ...base,
      ...secretSettings,
      "security.protocol": "sasl_ssl",
      "sasl.mechanism": "OAUTHBEARER",
    },
    { ...base, ...secretSettings, "security.protocol": "sasl_ssl", "sasl.mechanism": "PLAIN" },
    { ...base, "sasl.password": `${password}\${bad name}` },
    { ...base, "sasl.password": 42 as unknown as string },
    {
      ...base,
      "security.protocol": "ssl",
      "ssl.certificate.location": `${dir}/client-cert.pem`,
      "ssl.key.location": `${dir}/client-key-encrypted.pem`,
      "ssl.key.password": password,
    },
    {
      ...base,
      "security.protocol": "ssl",
      "ssl.certificate.pem": await Deno.readTextFile(`${dir}/other-client-cert.pem`),
      "ssl.key.pem": keyText,
    },
  ];
  const texts: string[] = [];
  for (const settings of failing) {
    const error = translationError(settings);
    texts.push(error.message, error.stack ?? "", Deno.inspect(error));
  }
  const { config, warnings } = translateSettings({
    ...base,
    "security.protocol": "sasl_ssl",
    "sasl.mechanism": "SCRAM-SHA-256",
    "sasl.username": "alice",
    "sasl.password": password,
    "ssl.ca.location": `${dir}/ca.pem`,
    "ssl.certificate.location": `${dir}/client-cert.pem`,
    "ssl.key.location": `${dir}/client-key-encrypted.pem`,
    "ssl.key.password": keyPassword,
    "sasl.pasword": password,
  }, noEnv);
  texts.push(...warnings, JSON.stringify(config), Deno.inspect(config, { depth: 10 }));
  texts.push(JSON.stringify(redactSettings({ ...secretSettings, "ssl.key.pem": keyText })));
  for (const text of texts) {
    assert.ok(!text.includes(password), `the password leaked into: ${text}`);
    assert.ok(!text.includes(keyPassword), `the key password leaked into: ${text}`);
    assert.ok(!text.includes(keyBody), `the private key leaked into: ${text}`);
  }
  // Still there for the client, read by name.
  assert.equal(config.sasl?.password, password);
  assert.equal(config.tls?.keyPassword, keyPassword);
  assert.ok(warnings.some((w) => w.includes('"sasl.pasword"')), "the misspelt key is named");
});

Deno.test("redactSettings hides secrets but keeps environment references and other values", () => {
  assert.deepEqual(
    redactSettings({
      "bootstrap.servers": "k:9092",
      "sasl.username": "alice",
      "sasl.password": password,
      "ssl.key.password": "${KEY_PASSWORD}",
      "my.api.secret": "s3",
    }),
    {
      "bootstrap.servers": "k:9092",
      "sasl.username": "alice",
      "sasl.password": "[redacted]",
      "ssl.key.password": "${KEY_PASSWORD}",
      "my.api.secret": "[redacted]",
    },
  );
  assert.ok(isSecretSetting("sasl.password"));
  assert.ok(!isSecretSetting("sasl.username"));
});

Deno.test("loadSettingsFile reads a JSON object of strings, leaving references for translation", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kafka.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...base, "sasl.password": "${KAFKA_PASSWORD}" }),
  );
  assert.deepEqual(await loadSettingsFile(path), { ...base, "sasl.password": "${KAFKA_PASSWORD}" });
});

Deno.test("loadSettingsFile names the key and the file of a value that is not a string", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kafka.json`;
  await Deno.writeTextFile(path, JSON.stringify({ ...base, "session.timeout.ms": 6000 }));
  await assert.rejects(() => loadSettingsFile(path), (error: unknown) => {
    assert.ok(error instanceof SettingsError);
    assert.equal(error.key, "session.timeout.ms");
    assert.equal(
      error.message,
      `Setting "session.timeout.ms" in ${
        JSON.stringify(path)
      } must be a string, not a number (write "6000")`,
    );
    return true;
  });
});

Deno.test("loadSettingsFile reports bad files without quoting their contents", async () => {
  const dir = await Deno.makeTempDir();
  const broken = `${dir}/broken.json`;
  await Deno.writeTextFile(broken, `{\n  "sasl.password": "${password}",\n  oops\n}`);
  await assert.rejects(() => loadSettingsFile(broken), (error: unknown) => {
    assert.ok(error instanceof SettingsFileError);
    assert.match(error.message, /is not valid JSON: expected a quoted key at line 3, column 3/);
    assert.ok(!error.message.includes(password));
    return true;
  });
  const list = `${dir}/list.json`;
  await Deno.writeTextFile(list, "[]");
  await assert.rejects(
    () => loadSettingsFile(list),
    /must hold a JSON object of string values, not an array/,
  );
  await assert.rejects(() => loadSettingsFile(`${dir}/missing.json`), /does not exist/);
  const secretNumber = `${dir}/secret.json`;
  await Deno.writeTextFile(secretNumber, `{"sasl.password": 123456789}`);
  await assert.rejects(() => loadSettingsFile(secretNumber), (error: unknown) => {
    assert.ok(error instanceof SettingsError);
    assert.ok(!error.message.includes("123456789"));
    return true;
  });
});

Deno.test("settings are translated once: a CA folder the command's check accepts is what rw.kafka.read uses", async () => {
  const material = await testMaterial();
  const folder = await Deno.makeTempDir();
  await Deno.copyFile(`${material}/ca.pem`, `${folder}/ca.pem`);
  const file = `${folder}/settings.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      "bootstrap.servers": "127.0.0.1:1",
      "group.id": "g",
      "security.protocol": "ssl",
      "ssl.ca.location": folder,
    }),
  );
  const loaded = await loadSettings(file);
  assert.match(loaded.config.tls?.ca ?? "", /BEGIN CERTIFICATE/);
  // The library takes the same translation for the same settings object: no second reader.
  assert.equal(translateSettingsOnce(loaded.settings).config, loaded.config);
  const pipeline = new rw.Pipeline();
  const table = rw.kafka.read(loaded.settings, {
    topicNames: ["t"],
    format: "csv",
    valueColumns: ["value"],
    pipeline,
  });
  assert.ok(table !== undefined);
  await Promise.all(pipeline.sources().map((source) => source.close?.()));
});

Deno.test("warnings are data too: each names its key and kind, in the order of the sentences", () => {
  const { warnings, warningDetails } = translateSettings({
    ...base,
    "sesion.timeout.ms": "6000",
    "enable.auto.commit": "true",
    "sasl.username": "u",
  }, noEnv);
  assert.deepEqual(
    warningDetails.map((w) => [w.key, w.kind]),
    [["sesion.timeout.ms", "unknown"], ["enable.auto.commit", "ignored"], [
      "sasl.username",
      "inapplicable",
    ]],
  );
  assert.deepEqual(warningDetails.map((w) => w.message), warnings);
});
