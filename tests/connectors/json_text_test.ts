/**
 * JSON of user-named files is parsed without ever repeating the text: a
 * fault is given by line and column, whatever the fault.
 */
import assert from "node:assert/strict";
import { JsonSyntaxError, parseJsonText } from "../../connectors/json_text.ts";

const secret = "Kq727785";

function fault(text: string): JsonSyntaxError {
  try {
    parseJsonText(text);
  } catch (error) {
    assert.ok(error instanceof JsonSyntaxError, String(error));
    assert.ok(!error.message.includes(secret), `${error.message} quotes the text`);
    return error;
  }
  throw new Error(`parsed: ${text}`);
}

Deno.test("valid JSON parses as JSON.parse does", () => {
  const text = '{"a": [1, -2.5e3, true, null, "x\\u0041\\n"], "b": {}}';
  assert.deepEqual(parseJsonText(text), JSON.parse(text));
});

Deno.test("each kind of fault gives its line and column and nothing of the text", () => {
  const cases: [string, number, number, RegExp][] = [
    [`{"sasl.password": ${secret}}`, 1, 19, /unexpected character/],
    [`{\n  "user": "u",\n  "sasl.password": "${secret}"}}`, 3, 31, /after the JSON value/],
    [`{\n  "sasl.password": "${secret}",\n  oops\n}`, 3, 3, /expected a quoted key/],
    [`{"sasl.password": "${secret}"`, 1, 29, /ends too early/],
    [`{"sasl.password": "${secret}`, 1, 28, /unterminated string/],
    [`{"sasl.password" "${secret}"}`, 1, 18, /expected ':'/],
    [`{"a": "1" "sasl.password": "${secret}"}`, 1, 11, /expected ',' or '}'/],
    [`["${secret}\\q"]`, 1, 12, /bad escape/],
    [`{"sasl.password": '${secret}'}`, 1, 19, /unexpected character/],
  ];
  for (const [text, line, column, what] of cases) {
    const error = fault(text);
    assert.deepEqual([error.line, error.column], [line, column], `${text}: ${error.message}`);
    assert.match(error.message, what);
    assert.match(error.message, new RegExp(`at line ${line}, column ${column}$`));
  }
});
