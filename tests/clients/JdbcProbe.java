// The PostgreSQL JDBC driver against `touchpoint serve`, as DBeaver,
// Metabase and Tableau use it: connect, list tables and columns through
// DatabaseMetaData, run a prepared statement, read a result set.
// tests/cli/serve.rs compiles and runs this; it prints `key=value` lines.
import java.sql.*;
import java.util.*;

public class JdbcProbe {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/touchpoint?sslmode=disable";
        Properties p = new Properties();
        p.setProperty("user", args[1]);
        p.setProperty("password", args[2]);
        try (Connection c = DriverManager.getConnection(url, p)) {
            DatabaseMetaData md = c.getMetaData();
            System.out.println("product=" + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            System.out.println("tables=" + String.join(",", tables));
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "customers", "%")) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
            }
            System.out.println("columns=" + String.join(",", cols));
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT COUNT(DISTINCT customer_id) AS n FROM customers WHERE region = ?")) {
                ps.setString(1, args[3]);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    System.out.println("count=" + rs.getLong("n"));
                }
            }
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT full_name, phone FROM customers ORDER BY customer_id LIMIT 3")) {
                ResultSetMetaData rmd = rs.getMetaData();
                System.out.println("result_columns=" + rmd.getColumnName(1) + "," + rmd.getColumnName(2));
                List<String> names = new ArrayList<>();
                while (rs.next()) names.add(rs.getString(1) + "|" + rs.getString(2));
                System.out.println("rows=" + String.join(";", names));
            }
        }
    }
}
