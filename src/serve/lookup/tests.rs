//! Every lookup answered from a table copy equals DataFusion's answer to
//! the same statement on the same session (masked, row-scoped), for random
//! keys; what is not a lookup is left to DataFusion.

use super::*;
use crate::access::{Masks, Personal, roles};
use datafusion::arrow::array::{
    Date32Array, Decimal128Array, DictionaryArray, Int64Array, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::catalog::MemTable;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use rand::{Rng, SeedableRng, rngs::StdRng};

const REGIONS: [&str; 3] = ["Kowloon", "Central", "Sha Tin"];

/// `customer_month`-like rows: (customer, period) unique, some keys null.
fn table(seed: u64) -> (Arc<Schema>, Vec<Vec<RecordBatch>>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8View, true),
        // A partition column, as Delta tables give it to DataFusion.
        Field::new(
            "period",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("region", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("amount", DataType::Decimal128(32, 2), true),
        Field::new("opened", DataType::Date32, false),
    ]));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut batches = Vec::new();
    for b in 0..4 {
        let mut rows = Vec::new();
        for c in (b * 50)..(b * 50 + 50) {
            let region = REGIONS[c % 3];
            for m in 1..=rng.random_range(1..=6) {
                let id = (rng.random_range(0..20) > 0).then(|| format!("C{c:04}"));
                let n = (rng.random_range(0..5) > 0).then(|| rng.random_range(0..4_i64));
                let amount =
                    (rng.random_range(0..5) > 0).then(|| rng.random_range(-9999..9999_i128));
                rows.push((
                    id,
                    format!("2024-{m:02}"),
                    region,
                    n,
                    amount,
                    19_700 + (c % 7) as i32,
                ));
            }
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringViewArray::from_iter(rows.iter().map(|r| r.0.clone()))),
                Arc::new(
                    rows.iter()
                        .map(|r| r.1.as_str())
                        .collect::<DictionaryArray<Int32Type>>(),
                ),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(StringArray::from_iter(
                    rows.iter()
                        .map(|r| r.0.as_ref().map(|id| format!("Name of {id}"))),
                )),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))),
                Arc::new(
                    Decimal128Array::from_iter(rows.iter().map(|r| r.4))
                        .with_precision_and_scale(32, 2)
                        .expect("test data"),
                ),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.5))),
            ],
        )
        .expect("test data");
        batches.push(batch);
    }
    (schema, vec![batches])
}

/// A session reading `customer_month` with `name` masked and, with
/// `scoped`, only Kowloon's rows.
fn session(scoped: bool) -> Arc<Session> {
    let ctx = crate::engine::session();
    let (schema, parts) = table(7);
    let raw = Arc::new(MemTable::try_new(schema, parts).expect("test data"));
    let mut masks = Masks::new(
        vec![("customer_month".into(), "name".into(), Personal::Mask)],
        None,
    );
    if scoped {
        masks = masks.with_scope(roles::Scope {
            filters: vec![roles::parse_filter("region = 'Kowloon'").expect("test data")],
            unfiltered: vec![],
        });
    }
    let governed = masks
        .provider("customer_month", raw)
        .expect("test data")
        .expect("test data");
    ctx.register_table("customer_month", governed)
        .expect("test data");
    Arc::new(Session::of(ctx))
}

fn parse(sql: &str) -> ast::Statement {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .expect("test data")
        .remove(0)
}

async fn datafusion(s: &Session, sql: &str, params: Option<ParamValues>) -> Answer {
    let mut df = s.ctx.sql(sql).await.expect("test data");
    if let Some(p) = params {
        df = df.with_param_values(p).expect("test data");
    }
    collect(df.execute_stream().await.expect("test data")).await
}

/// A schema and its rows' batches (empty batches left out).
type Answer = (datafusion::arrow::datatypes::SchemaRef, Vec<RecordBatch>);

async fn collect(stream: SendableRecordBatchStream) -> Answer {
    let schema = stream.schema();
    let batches = stream
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|b| b.expect("test data"));
    (schema, batches.filter(|b| b.num_rows() > 0).collect())
}

async fn from_copy(
    l: &Arc<Lookups>,
    s: &Arc<Session>,
    sql: &str,
    params: Option<&ParamValues>,
) -> Option<Answer> {
    let stmt = parse(sql);
    // The first asks for the copy; it is built in the background.
    for _ in 0..500 {
        if let Some(stream) = l.answer(s, &stmt, params).await {
            return Some(collect(stream).await);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

fn text(batches: &[RecordBatch], sorted: bool) -> String {
    let t = pretty_format_batches(batches)
        .expect("test data")
        .to_string();
    if !sorted {
        return t;
    }
    let mut lines: Vec<&str> = t.lines().collect();
    lines.sort();
    lines.join("\n")
}

#[tokio::test]
async fn lookups_equal_datafusion_for_random_keys_masked_and_scoped() {
    let lookups = Arc::new(Lookups::new(64 << 20));
    let mut rng = StdRng::seed_from_u64(11);
    for scoped in [false, true] {
        let s = session(scoped);
        // (statement with {k} for a key, whether its order is total)
        let shapes = [
            (
                "SELECT * FROM customer_month WHERE customer_id = '{k}' ORDER BY period",
                true,
            ),
            (
                "SELECT * FROM customer_month WHERE customer_id = '{k}'",
                false,
            ),
            (
                "SELECT name, n AS x, amount FROM customer_month WHERE '{k}' = customer_id \
                 ORDER BY n DESC NULLS LAST, period LIMIT 2 OFFSET 1",
                true,
            ),
            (
                "SELECT cm.period FROM customer_month cm WHERE cm.customer_id = \
                 'C' || lpad(substr('{k}', 2), 4, '0') ORDER BY amount NULLS FIRST, period DESC",
                true,
            ),
            (
                "SELECT period, opened FROM customer_month WHERE customer_id = '{k}' ORDER BY period LIMIT 0",
                true,
            ),
        ];
        for (shape, total) in shapes {
            for _ in 0..15 {
                // Keys that exist, keys in no row, odd text.
                let k = match rng.random_range(0..10) {
                    0 => "C9999".to_string(),
                    1 => "".to_string(),
                    2 => "c0001".to_string(),
                    _ => format!("C{:04}", rng.random_range(0..200)),
                };
                let sql = shape.replace("{k}", &k);
                let want = datafusion(&s, &sql, None).await;
                let got = from_copy(&lookups, &s, &sql, None)
                    .await
                    .unwrap_or_else(|| panic!("not answered from the copy: {sql}"));
                assert_eq!(got.0, want.0, "{sql}");
                assert_eq!(text(&got.1, !total), text(&want.1, !total), "{sql}");
            }
        }
        // Integer and date keys, and a bound parameter.
        for sql in [
            "SELECT customer_id, period, n FROM customer_month WHERE n = 2 ORDER BY customer_id, period",
            "SELECT customer_id, period FROM customer_month WHERE opened = DATE '2023-12-09' ORDER BY customer_id, period",
            "SELECT customer_id, period FROM customer_month WHERE name = 'N***' ORDER BY customer_id, period",
        ] {
            let want = datafusion(&s, sql, None).await;
            let got = from_copy(&lookups, &s, sql, None).await.expect(sql);
            assert_eq!(text(&got.1, false), text(&want.1, false), "{sql}");
        }
        let sql = "SELECT * FROM customer_month WHERE customer_id = $1 ORDER BY period";
        for k in ["C0003", "C0004", "C0150"] {
            let params = ParamValues::List(vec![ScalarValue::Utf8(Some(k.into())).into()]);
            let want = datafusion(&s, sql, Some(params.clone())).await;
            let got = from_copy(&lookups, &s, sql, Some(&params))
                .await
                .expect(sql);
            assert_eq!(text(&got.1, false), text(&want.1, false), "{sql} {k}");
        }
    }
}

#[tokio::test]
async fn a_scoped_copy_holds_no_other_region_and_masks_stay_masked() {
    let lookups = Arc::new(Lookups::new(64 << 20));
    let s = session(true);
    // C0001 is in Central (c % 3 == 1): out of the Kowloon role's scope.
    let sql = "SELECT * FROM customer_month WHERE customer_id = 'C0001'";
    let got = from_copy(&lookups, &s, sql, None).await.expect("answered");
    assert!(got.1.is_empty());
    let sql = "SELECT name, region FROM customer_month WHERE customer_id = 'C0003'";
    let got = from_copy(&lookups, &s, sql, None).await.expect("answered");
    let t = text(&got.1, false);
    assert!(
        t.contains("Kowloon") && !t.contains("Name of") && t.contains("N***"),
        "{t}"
    );
}

#[tokio::test]
async fn what_is_not_a_keyed_lookup_is_left_to_datafusion() {
    let lookups = Arc::new(Lookups::new(64 << 20));
    let s = session(false);
    let k = "SELECT * FROM customer_month WHERE customer_id = 'C0003'";
    assert!(from_copy(&lookups, &s, k, None).await.is_some());
    for sql in [
        "SELECT customer_id, COUNT(*) FROM customer_month WHERE customer_id = 'C0003' GROUP BY customer_id",
        "SELECT DISTINCT region FROM customer_month WHERE customer_id = 'C0003'",
        "SELECT upper(name) FROM customer_month WHERE customer_id = 'C0003'",
        "SELECT * FROM customer_month WHERE upper(customer_id) = 'C0003'",
        "SELECT * FROM customer_month WHERE customer_id = 'C0003' AND n = 1",
        "SELECT * FROM customer_month WHERE customer_id = region",
        "SELECT * FROM customer_month WHERE customer_id = now()::text",
        "SELECT * FROM customer_month WHERE customer_id = (SELECT 'C0003')",
        "SELECT * FROM customer_month WHERE n = 1.5",
        "SELECT * FROM customer_month WHERE n = '1'",
        "SELECT * FROM customer_month WHERE customer_id = NULL",
        "SELECT * FROM customer_month WHERE customer_id = 'C0003' ORDER BY upper(period)",
        "SELECT * FROM customer_month a JOIN customer_month b USING (period) WHERE a.customer_id = 'C0003'",
        "WITH t AS (SELECT * FROM customer_month) SELECT * FROM t WHERE customer_id = 'C0003'",
        "SELECT * FROM customer_month WHERE customer_id = 'C0003' LIMIT $1",
        "SELECT * FROM no_such_table WHERE customer_id = 'C0003'",
    ] {
        let stmt = parse(sql);
        assert!(lookups.answer(&s, &stmt, None).await.is_none(), "{sql}");
    }
}

#[tokio::test]
async fn copies_stay_within_the_budget() {
    // Too small for the table: never copied, always DataFusion's.
    let tiny = Arc::new(Lookups::new(1000));
    let s = session(false);
    let sql = "SELECT * FROM customer_month WHERE customer_id = 'C0003'";
    assert!(from_copy(&tiny, &s, sql, None).await.is_none());
    assert_eq!(tiny.lock().bytes, 0);
    // Room for one copy: a second session's copy pushes out the first.
    let size = {
        let big = Arc::new(Lookups::new(64 << 20));
        assert!(from_copy(&big, &s, sql, None).await.is_some());
        big.lock().bytes
    };
    assert!(size > 0);
    let one = Arc::new(Lookups::new(size + size / 2));
    assert!(from_copy(&one, &s, sql, None).await.is_some());
    let s2 = session(false);
    assert!(from_copy(&one, &s2, sql, None).await.is_some());
    let inner = one.lock();
    let ready: Vec<_> = inner
        .tables
        .iter()
        .filter(|c| matches!(c.state, State::Ready(_)))
        .collect();
    assert_eq!(ready.len(), 1, "the older copy went");
    assert!(same(&ready[0].session, &s2));
    assert!(inner.bytes <= size + size / 2);
}

#[tokio::test]
async fn a_session_gone_takes_its_copy_with_it() {
    let lookups = Arc::new(Lookups::new(64 << 20));
    let s = session(false);
    let sql = "SELECT * FROM customer_month WHERE customer_id = 'C0003'";
    assert!(from_copy(&lookups, &s, sql, None).await.is_some());
    assert!(lookups.lock().bytes > 0);
    drop(s);
    let other = session(false);
    let _ = lookups.answer(&other, &parse("SELECT 1"), None).await;
    let _ = lookups.keyed(&other, &{
        let split = shape::split(&parse(sql)).expect("test data");
        lookups.template(&other, &split).await.expect("test data")
    });
    let inner = lookups.lock();
    assert!(inner.tables.iter().all(|c| c.session.strong_count() > 0));
}

#[test]
fn key_values_compare_as_datafusion_would_or_not_at_all() {
    let utf8 = |s: &str| ScalarValue::Utf8(Some(s.into()));
    assert_eq!(
        key_value(utf8("a"), &DataType::Utf8View),
        Some(ScalarValue::Utf8View(Some("a".into())))
    );
    assert_eq!(
        key_value(ScalarValue::Int64(Some(7)), &DataType::Int32),
        Some(ScalarValue::Int32(Some(7)))
    );
    // Out of an Int32 key's range, a float, text for a number, NULL: left to DataFusion.
    assert_eq!(
        key_value(ScalarValue::Int64(Some(1 << 40)), &DataType::Int32),
        None
    );
    assert_eq!(
        key_value(ScalarValue::Float64(Some(1.0)), &DataType::Int64),
        None
    );
    assert_eq!(key_value(utf8("1"), &DataType::Int64), None);
    assert_eq!(key_value(ScalarValue::Utf8(None), &DataType::Utf8), None);
    assert_eq!(
        key_value(ScalarValue::Int64(Some(1)), &DataType::Utf8),
        None
    );
}

#[tokio::test]
async fn computed_values_equal_datafusions_select_of_the_same_expression() {
    let s = session(false);
    let constants = constant::Constants::default();
    let mut rng = StdRng::seed_from_u64(3);
    // Shapes planned once, then reused with other literals.
    let shapes = [
        "'C' || lpad({n}::text, 7, '0')",
        "lpad(CAST({n} AS VARCHAR), 5, 'x')",
        "upper('ab' || '{n}')",
        "substr('abcdefghij', {n} % 5 + 1, 3)",
        "{n} + 7",
        "-{n}",
        "{n} * 1000000000000",
        "'2024-01-01'::date + {n} % 30",
        "concat('a', {n}, 'b')",
        "CASE WHEN {n} > 5 THEN 'big' ELSE 'small' END",
    ];
    for shape in shapes {
        for _ in 0..6 {
            let n: i64 = match rng.random_range(0..4) {
                0 => i64::MAX / rng.random_range(1..3),
                _ => rng.random_range(0..100_000),
            };
            let text = shape.replace("{n}", &n.to_string());
            let expr = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
                .expect("expression");
            let got = constants.value(&s.frozen().0, &expr);
            let want = match s.ctx.sql(&format!("SELECT {text}")).await {
                Ok(df) => match df.collect().await {
                    Ok(b) => ScalarValue::try_from_array(b[0].column(0), 0).ok(),
                    Err(_) => None,
                },
                Err(_) => None,
            };
            assert_eq!(got, want, "{text}");
        }
    }
    let planned = constants.planned();
    // The benchmark's shape among them; `-n` (a negative literal to
    // DataFusion, a negation of a column here) is evaluated whole.
    assert!(
        planned.contains(&"$0 || lpad($1::TEXT, $2, $3)".to_string()),
        "{planned:?}"
    );
    assert!(!planned.iter().any(|p| p == "-$0"), "{planned:?}");
    // What is not evaluated once per statement is not a value.
    for text in ["now()::text", "random()::text"] {
        let expr = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(text)
            .and_then(|mut p| p.parse_expr())
            .expect("expression");
        assert_eq!(constants.value(&s.frozen().0, &expr), None, "{text}");
    }
}
