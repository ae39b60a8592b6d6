// What CloudBeaver / DBeaver do on opening a connection, through pgward with pgjdbc:
// DatabaseMetaData.getTables/getColumns/getPrimaryKeys, then a PreparedStatement run 10 times
// (pgjdbc switches to a named server-side prepared statement after prepareThreshold = 5 uses).
// Usage: java -cp postgresql.jar:. MetadataCheck JDBC_URL USER PASSWORD [masked]
// With "masked", users.email must never come back in clear: "****" (redact), or NULL once
// pgjdbc runs its named statement without a Describe (a known limit: no column types then).
import java.sql.*;
import java.util.*;

public class MetadataCheck {
    static void check(boolean ok, String what) {
        if (!ok) {
            System.out.println("FAIL: " + what);
            System.exit(1);
        }
    }

    public static void main(String[] args) throws Exception {
        boolean masked = args.length > 3 && args[3].equals("masked");
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("sslmode", "disable");
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "30");
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData md = c.getMetaData();
            System.out.println("server: " + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());

            Set<String> tables = new TreeSet<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            System.out.println("tables: " + tables);
            check(tables.containsAll(List.of("users", "documents", "invoices", "api_tokens", "user_directory")), "getTables");

            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "users", "%")) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
            }
            System.out.println("users columns: " + cols);
            check(cols.contains("id:serial") || cols.contains("id:int4"), "getColumns id");
            check(cols.contains("email:text"), "getColumns email");

            List<String> pk = new ArrayList<>();
            try (ResultSet rs = md.getPrimaryKeys(null, "public", "users")) {
                while (rs.next()) pk.add(rs.getString("COLUMN_NAME"));
            }
            check(pk.equals(List.of("id")), "getPrimaryKeys: " + pk);

            try (ResultSet rs = md.getImportedKeys(null, "public", "documents")) {
                check(rs.next(), "getImportedKeys documents");
            }
            try (ResultSet rs = md.getIndexInfo(null, "public", "users", false, true)) {
                check(rs.next(), "getIndexInfo users");
            }
            try (ResultSet rs = md.getSchemas()) {
                check(rs.next(), "getSchemas");
            }

            try (PreparedStatement ps = c.prepareStatement("SELECT id, email, status FROM users WHERE id = ?")) {
                for (int i = 1; i <= 10; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "row " + i);
                        check(rs.getInt(1) == i, "id " + i);
                        String clear = "user" + i + "@example.com", got = rs.getString(2);
                        if (masked) {
                            check(!clear.equals(got), "email " + i + " in clear");
                            check(got == null || got.equals("****"), "email " + i + ": " + got);
                            check(i > 5 || "****".equals(got), "email " + i + " not redacted: " + got);
                        } else {
                            check(clear.equals(got), "email " + i + ": " + got);
                        }
                    }
                }
            }
            // An error does not break the connection.
            try (Statement st = c.createStatement()) {
                try {
                    st.executeQuery("SELECT 1/0");
                    check(false, "division by zero did not fail");
                } catch (SQLException e) {
                    check("22012".equals(e.getSQLState()), "sqlstate " + e.getSQLState());
                }
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM documents")) {
                    check(rs.next() && rs.getLong(1) == 600, "count after error");
                }
            }
        }
        System.out.println("OK");
    }
}
