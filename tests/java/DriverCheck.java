// pgjdbc through pgward as an application uses it: a PreparedStatement at the default
// prepareThreshold (server-prepared from the 5th execution) and at prepareThreshold=1,
// executeBatch of inserts, and autocommit off with statements reused across transactions
// (DBeaver's manual-commit mode). Usage: java DriverCheck URL USER PASSWORD BATCH_TABLE
// [guarded]. With "guarded" (a role with max_affected_rows), only a write with autocommit
// off, rolled back and then committed: pgjdbc sends BEGIN and the write in one batch.
// Prints one line per failed check and "OK" when every check passed.
import java.sql.*;
import java.util.*;

public class DriverCheck {
    static List<String> failures = new ArrayList<>();

    interface Check { void run(Connection c) throws Exception; }

    static void check(String name, String url, Properties props, Check body) {
        try (Connection c = DriverManager.getConnection(url, props)) {
            body.run(c);
        } catch (Exception e) {
            failures.add(name + ": " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    static void selects(Connection c, int n) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT id, status FROM documents WHERE id = ?")) {
            for (int i = 0; i < n; i++) {
                ps.setInt(1, i % 7 + 1);
                try (ResultSet rs = ps.executeQuery()) { while (rs.next()) { rs.getInt(1); } }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], table = args[3];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("sslmode", "disable");
        if (args.length > 4 && args[4].equals("guarded")) {
            check("autocommit_off_guarded_write", url, props, c -> {
                c.setAutoCommit(false);
                String sql = "UPDATE " + table + " SET n = n + 100 WHERE n < ?";
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setInt(1, 3);
                    int rolledBack = ps.executeUpdate();
                    c.rollback();
                    ps.setInt(1, 3);
                    int kept = ps.executeUpdate();
                    c.commit();
                    if (rolledBack != 3 || kept != 3) {
                        throw new AssertionError("rows " + rolledBack + " then " + kept);
                    }
                }
            });
            for (String f : failures) System.out.println(f);
            System.out.println(failures.isEmpty() ? "OK" : failures.size() + " failed");
            System.exit(failures.isEmpty() ? 0 : 1);
        }

        check("default_threshold", url, props, c -> selects(c, 30));
        Properties one = new Properties();
        one.putAll(props);
        one.setProperty("prepareThreshold", "1");
        check("prepare_threshold_1", url, one, c -> selects(c, 30));
        check("execute_batch", url, props, c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (n) VALUES (?)")) {
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < 50; i++) { ps.setInt(1, i); ps.addBatch(); }
                    int[] counts = ps.executeBatch();
                    if (counts.length != 50) throw new AssertionError("batch counts " + counts.length);
                }
            }
        });
        check("autocommit_off_reuse", url, props, c -> {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM documents WHERE id > ?")) {
                for (int tx = 0; tx < 12; tx++) {
                    ps.setInt(1, tx);
                    try (ResultSet rs = ps.executeQuery()) { rs.next(); }
                    if (tx % 2 == 0) c.commit(); else c.rollback();
                }
            }
        });
        for (String f : failures) System.out.println(f);
        System.out.println(failures.isEmpty() ? "OK" : failures.size() + " failed");
        System.exit(failures.isEmpty() ? 0 : 1);
    }
}
