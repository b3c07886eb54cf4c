//! Key ranges for a parallel read (`parallel: N`): the first key column is
//! split at N − 1 boundaries, so every row falls in exactly one range
//! (`k < b1 OR k IS NULL`, `b1 <= k < b2`, …, `k >= b(N-1)`) whatever the
//! boundaries are — they only decide how even the ranges are. An integer
//! key is split evenly between its minimum and maximum; any other key at
//! the table's statistics (`pg_stats.histogram_bounds`, from `ANALYZE`).
//! Without either, the read is one range.

use super::types::Wire;
use super::{Object, Postgres, ident};
use crate::sources::database::{Error, Kind};
use tokio_postgres::Client;

/// The boundaries of `n` ranges of column `key` (of wire type `wire`) as
/// SQL literals, ascending and distinct; empty: one range.
pub async fn boundaries(
    client: &Client,
    pg: &Postgres,
    key: &str,
    wire: Wire,
    n: usize,
) -> Result<Vec<String>, Error> {
    let q = |e: tokio_postgres::Error| Error::Query {
        object: pg.object(),
        reason: super::profile::describe(e),
    };
    if n < 2 {
        return Ok(Vec::new());
    }
    if matches!(wire, Wire::Int2 | Wire::Int4 | Wire::Int8) {
        let sql = format!(
            "SELECT min(q.{k})::int8, max(q.{k})::int8 FROM {} AS q",
            pg.object.relation(),
            k = ident(key)
        );
        let row = client.query_one(&sql, &[]).await.map_err(q)?;
        let (lo, hi): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        return Ok(match (lo, hi) {
            (Some(lo), Some(hi)) => even(lo, hi, n).into_iter().map(|b| b.to_string()).collect(),
            _ => Vec::new(),
        });
    }
    let Object::Table(schema, table) = &pg.object else {
        return Ok(Vec::new());
    };
    let relation = match schema {
        Some(s) => format!("{}.{}", ident(s), ident(table)),
        None => ident(table),
    };
    let rows = client
        .query(
            "SELECT s.histogram_bounds::text::text[] FROM pg_stats s
               JOIN pg_namespace n ON n.nspname = s.schemaname
               JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
             WHERE c.oid = $1::text::regclass AND s.attname = $2",
            &[&relation, &key],
        )
        .await
        .map_err(q)?;
    let bounds: Vec<String> = rows
        .first()
        .and_then(|r| r.get::<_, Option<Vec<String>>>(0))
        .unwrap_or_default();
    Ok(pick(&bounds, n)
        .into_iter()
        .map(|b| format!("'{}'", b.replace('\'', "''")))
        .collect())
}

/// `n − 1` boundaries splitting `lo..=hi` into `n` ranges of nearly equal
/// width (fewer when there are fewer values than ranges).
fn even(lo: i64, hi: i64, n: usize) -> Vec<i64> {
    let width = i128::from(hi) - i128::from(lo) + 1;
    let mut out: Vec<i64> = (1..n as i128)
        .map(|i| (i128::from(lo) + width * i / n as i128) as i64)
        .filter(|&b| b > lo && b <= hi)
        .collect();
    out.dedup();
    out
}

/// `n − 1` of a histogram's bounds, evenly spaced among its inner ones.
fn pick(bounds: &[String], n: usize) -> Vec<String> {
    if bounds.len() < 3 {
        return Vec::new();
    }
    // The first and last bounds are the minimum and maximum: inner only.
    let inner = &bounds[1..bounds.len() - 1];
    let mut out: Vec<String> = (1..n)
        .map(|i| inner[(i * inner.len() / n).min(inner.len() - 1)].clone())
        .collect();
    out.dedup();
    out
}

/// The filter of each range over `q.<key>`, in order; one empty filter
/// when there are no boundaries.
pub fn filters(key: &str, bounds: &[String]) -> Vec<Option<String>> {
    if bounds.is_empty() {
        return vec![None];
    }
    let k = format!("q.{}", ident(key));
    let mut out = vec![Some(format!("({k} < {} OR {k} IS NULL)", bounds[0]))];
    for w in bounds.windows(2) {
        out.push(Some(format!("{k} >= {} AND {k} < {}", w[0], w[1])));
    }
    out.push(Some(format!("{k} >= {}", bounds[bounds.len() - 1])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ranges_cover_every_value_once() {
        assert_eq!(even(1, 100, 4), vec![26, 51, 76]);
        assert_eq!(even(1, 2, 4), vec![2]);
        assert_eq!(even(5, 5, 4), Vec::<i64>::new());
        // No overflow at the ends of int8.
        let b = even(i64::MIN, i64::MAX, 2);
        assert_eq!(b, vec![0]);
        // Every value of lo..=hi is in exactly one range.
        for (lo, hi, n) in [
            (1i64, 100i64, 4usize),
            (-7, 13, 3),
            (0, 1, 16),
            (10, 1000, 7),
        ] {
            let b = even(lo, hi, n);
            for v in lo..=hi {
                let in_ranges = std::iter::once(v < *b.first().unwrap_or(&i64::MAX))
                    .chain(b.windows(2).map(|w| v >= w[0] && v < w[1]))
                    .chain(b.last().map(|&l| v >= l))
                    .filter(|&x| x)
                    .count();
                assert_eq!(in_ranges, 1, "{v} in {lo}..={hi} / {n}: {b:?}");
            }
        }
    }

    #[test]
    fn histogram_bounds_are_picked_inside() {
        let h: Vec<String> = (0..=100).map(|i| format!("C{i:03}")).collect();
        assert_eq!(pick(&h, 4), ["C025", "C050", "C075"]);
        assert!(pick(&h[..2], 4).is_empty());
        let f = filters("id", &["'a'".into(), "'b''c'".into()]);
        assert_eq!(
            f,
            [
                Some("(q.\"id\" < 'a' OR q.\"id\" IS NULL)".to_string()),
                Some("q.\"id\" >= 'a' AND q.\"id\" < 'b''c'".to_string()),
                Some("q.\"id\" >= 'b''c'".to_string()),
            ]
        );
        assert_eq!(filters("id", &[]), [None]);
    }
}
