// Prints, for each hex-encoded key read from standard input (one per line), what
// the Kafka Java client computes: Utils.murmur2(key) and the partition its
// built-in partitioner picks for 1..12 partitions, tab-separated. Used by
// tests/connectors/kafka/murmur2_test.ts to check rivulet's partitioner against
// the real kafka-clients jar.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class KafkaPartitions {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder out = new StringBuilder();
    String line;
    while ((line = in.readLine()) != null) {
      byte[] key = new byte[line.length() / 2];
      for (int i = 0; i < key.length; i++) {
        key[i] = (byte) Integer.parseInt(line.substring(2 * i, 2 * i + 2), 16);
      }
      out.append(Utils.murmur2(key));
      for (int partitions = 1; partitions <= 12; partitions++) {
        out.append('\t').append(BuiltInPartitioner.partitionForKey(key, partitions));
      }
      out.append('\n');
    }
    System.out.print(out);
  }
}
