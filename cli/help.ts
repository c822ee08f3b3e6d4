/**
 * The help text of every command, with examples and exit codes.
 *
 * @module
 */
import { EXIT_CODES_HELP } from "./exit_codes.ts";
import { VERSION } from "./version.ts";

/** `rivulet --help`. */
export const MAIN_HELP = `rivulet ${VERSION}: a stream processor for Kafka

Usage:
  rivulet run PIPELINE.ts [flags]           run a pipeline script
  rivulet run --transform T.ts [flags]      run a transform between a source and a sink
  rivulet tail TOPIC --settings S.json      show a result topic as a table, rebuilt from its diffs
  rivulet check [PIPELINE.ts | flags]       load and check everything a run needs, without connecting
  rivulet help COMMAND                      help for one command
  rivulet --version

Try it without a broker:
  rivulet run --transform examples/sum.ts --input examples/connector_example.txt \\
    --format csv --columns value

${EXIT_CODES_HELP}
`;

/** `rivulet run --help`. */
export const RUN_HELP = `Usage:
  rivulet run PIPELINE.ts [--state-dir DIR] [--log-format text|json] [--metrics-port P]
  rivulet run --transform T.ts (--input FILE|- | --topic NAME... --settings S.json)
              [--format plaintext|raw|csv|json|F.ts] [--columns a,b] [--output-topic T] [flags]
  rivulet run --config pipeline.json [flags]

A pipeline script exports a default function that receives the rivulet API and
builds sources and sinks on it (it may return the Pipeline it built); a script
without a default export runs itself (it imports mod.ts and calls run()).

A transform exports a default function (input: Table, rw) => Table, where rw is
the rivulet API (tables, reducers, apply): it needs no import of rivulet, so it
also runs from the compiled executable. Without --output-topic every change of
its result goes to standard output as one JSON object per line with "diff" and
"time": the records the Kafka sink would write.

Source:
  --input FILE|-            read FILE (or standard input), one message per line, *COMMIT* lines included
  --topic NAME              read a Kafka topic (repeatable); needs --settings
  --settings FILE           librdkafka settings as a JSON object of strings
  --format NAME|FILE        plaintext (default: key and data as text), raw (key and data as
                            bytes), csv, json, or a format module file (.ts)
  --format-module FILE      a format module file (the same as --format FILE)
  --columns a,b             the value columns the table gets (csv, json)
  --header a,b              csv: the column names up front; then no header message is expected
  --primary-key a,b         columns whose values make the row id: later rows replace earlier ones
  --schema SPEC             typed columns, e.g. value:int,name:str? (int, float, bool, str,
                            bytes, json, timestamp; ? = optional); a value that does not convert
                            is bad input
  --schema-file FILE        the schema as JSON: {"value": "int", "score": {"type": "float",
                            "default": 0}}
  --json-field-paths SPEC   json: a JSON Pointer per column, e.g. city=/address/city
  --key-columns a,b         columns decoded from the message key (same format)
  --key-as-row-id           the Kafka key is the row id; a tombstone deletes the row
                            (a compacted topic reads as a table)
  --with-metadata           add a _metadata column: offset, partition, topic,
                            timestamp_millis, key, headers
  --start-from-timestamp T  start at time T (ms since the epoch, or ISO 8601) in every partition
  --until-end               read up to the end offsets found at start, apply, flush, exit 0
  --diff-column             read a "diff" column (1 or -1) as insertion or retraction, keyed by
                            the record's row id: the input is another rivulet's output
  --commit-interval MS      apply what has arrived every MS ms (for producers without *COMMIT*)
  --max-message-bytes N     a larger message (key and value) is bad input (default 1048588,
                            Kafka's message.max.bytes); --error-policy decides what happens
  --error-policy P          stop (default), skip, or dead-letter bad input
  --dead-letter-topic T     where the dead-letter policy sends bad messages
Sink:
  --output-topic T          write the changes to Kafka topic T (default: standard output)
  --output-topic-column C   write each change to the Kafka topic its row names in column C
  --output-format F         json (default: {...columns,"diff":1,"time":T}), dsv (quoted columns,
                            then time and diff), plaintext (one string column) or raw (one bytes
                            column); plaintext and raw carry pathway_time/pathway_diff headers
  --output-delimiter D      dsv's field delimiter (default ","; \t for a tab)
  --output-value C          plaintext/raw: the column written (default: the table's only column)
  --output-key C            each record's key from column C (default: the row id); the key picks
                            the partition as Kafka's Java client does (murmur2)
  --output-headers a,b      send columns a and b as record headers named after them
  --output-partitions N     partitions of an output topic rivulet creates (default 1, one ordered
                            stream for a global result); an existing topic must have N
  --commit-frequency N      at most N commits per produce request (default 1)
  --commit-markers          end each commit with a *COMMIT* record, for a downstream rivulet
Running:
  --state-dir DIR           checkpoint state in DIR; a restart resumes from it (state that no
                            longer fits the topics, e.g. a topic created again, is refused: exit 2)
  --reset-state             discard the saved state (--state-dir, or the kafka store's changelog) and
                            start as new
  --exactly-once            outputs and input offsets in one Kafka transaction per checkpoint;
                            readers with isolation.level=read_committed see each change once
                            (needs --state-dir or --state-store kafka, and Kafka input and output)
  --transactional-id ID     the transactional id (default rivulet-<group.id>); one per pipeline
  --state-store kafka|local where state lives: local (default, --state-dir) or kafka (a compacted
                            changelog topic <group.id>-state-changelog, written at each checkpoint
                            (in each transaction with --exactly-once) and restored on start: no
                            local state needed; needs Kafka input and a Kafka output; with
                            --state-dir, the directory is a cache: a restart reads only the
                            changelog's tail after it)
  --partitioned             run as tasks per partition so that several instances started with the
                            same group.id share the work and take over from each other: stateful
                            operators are fed through <group.id>-repartition-N topics, each task's
                            state lives in <group.id>-tasks-changelog (needs --topic and
                            --output-topic; see the README's deployment section)
  --kafka-client NAME       the Kafka client library: kafkajs (default) or platformatic
                            (@platformatic/kafka); RIVULET_KAFKA_CLIENT chooses when unset
  --config FILE             flags as a JSON object ({"transform": "sum.ts", "topic": ["a"], ...});
                            paths in it are relative to it; flags on the command line win
  --log-format text|json    log lines for people (default) or for log collectors
  --metrics-port P          serve Prometheus metrics at http://127.0.0.1:P/metrics (0: any free port)
  --quiet                   no status line or progress lines, only warnings and errors

Examples:
  rivulet run --transform examples/sum.ts --input examples/connector_example.txt \\
    --format csv --columns value
  printf 'value\\n1\\n*COMMIT*\\n' | rivulet run --transform examples/sum.ts --input - --format csv
  rivulet run --transform examples/sum.ts --topic connector_example --settings settings.json \\
    --format csv --columns value --output-topic sum --state-dir .state/sum
  rivulet run examples/realtime_kafka.ts

Stops on SIGINT or SIGTERM after finishing the open commit and flushing, or when
every file source is read.

${EXIT_CODES_HELP}
`;

/** `rivulet tail --help`. */
export const TAIL_HELP = `Usage:
  rivulet tail TOPIC --settings S.json [--from-beginning] [--exit-after-idle MS]

Reads a topic rivulet writes (JSON records with "diff" and "time", keyed by row
id) and shows the current result table, rebuilt from the diffs: redrawn after
each commit time on a terminal, or, when standard output is not a terminal, one
block per commit time: a line "time T: N rows" and then each row as JSON.
It reads with a fresh consumer group and commits nothing.

  --settings FILE           librdkafka settings as a JSON object of strings
  --from-beginning          rebuild the table from the start of the topic (without it,
                            only changes from now on are shown)
  --exit-after-idle MS      exit once no record arrived for MS ms
  --kafka-client NAME       kafkajs (default) or platformatic; RIVULET_KAFKA_CLIENT chooses when unset
  --log-format text|json    how warnings and errors look

Examples:
  rivulet tail sum --settings settings.json --from-beginning
  rivulet tail sum --settings settings.json --from-beginning --exit-after-idle 2000 > sum.txt

${EXIT_CODES_HELP}
`;

/** `rivulet check --help`. */
export const CHECK_HELP = `Usage:
  rivulet check PIPELINE.ts
  rivulet check --transform T.ts [--format F] [--settings S.json] [the other flags of run]
  rivulet check --config pipeline.json

Loads everything a run would, without connecting to Kafka or reading input:
type-checks the pipeline, transform and format module files with "deno check"
(when a deno executable is at hand: the compiled rivulet has none, and then says
so), imports them and checks their exports, loads the format, reads and
translates the settings (an unknown or misspelt key is a problem), and builds
the pipeline once, so a transform that uses a missing column fails here.
Prints one line per file checked and one per problem.

Examples:
  rivulet check --transform examples/sum.ts --format csv --columns value
  rivulet check --transform sum.ts --topic connector_example --settings settings.json

Exit codes:
  0  everything loads
  2  a problem was found (each is printed)
`;

/** The help of a command by name, if it exists. */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  run: RUN_HELP,
  tail: TAIL_HELP,
  check: CHECK_HELP,
};
