//! Lookups sent as plain text (pgbench, a dashboard's drill-down) recognised
//! from their tokens, without the PostgreSQL-compatible parser: parsing and
//! rewriting a statement cost a fifth of a lookup answered from a copy.
//!
//! A statement's pattern is its tokens with the literals of the looked-up
//! value left out. The first statement of a pattern goes through the full
//! parser and `shape::split`; the pattern is remembered as a lookup only
//! when the value the full parser found is the one the plain parser reads
//! from the value's tokens alone. Later statements of the pattern take the
//! remembered shape and read only their value. What the full parser's
//! rewrites could treat differently for another literal — a catalog table,
//! a cast to `regclass`, a `regproc` column compared with 0, escaped or
//! dollar-quoted strings — never forms a pattern.

use super::shape::{self, Split, Value};
use crate::serve::rewrite;
use crate::serve::statement::{self, Kind};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// Patterns remembered.
const PATTERNS: usize = 1024;
/// Longer statements are parsed as usual.
const LONGEST: usize = 4096;

/// What a pattern's statements share: the shape and its text.
struct Known {
    shape: Arc<ast::Statement>,
    text: Arc<str>,
}

pub struct Recogniser {
    parser: PostgresCompatibilityParser,
    /// Pattern → its shape (`None`: not a lookup).
    known: Mutex<HashMap<String, Option<Arc<Known>>>>,
}

impl Default for Recogniser {
    fn default() -> Self {
        Recogniser {
            parser: PostgresCompatibilityParser::new(),
            known: Mutex::default(),
        }
    }
}

impl Recogniser {
    /// `sql` split as `shape::split` would split it after the full parse,
    /// and its text again (see `Pattern::sql`), when it is a single
    /// `SELECT … WHERE col = value …` of a known pattern (or becomes one
    /// now).
    pub fn split(&self, sql: &str) -> Option<(Split, String)> {
        if sql.len() > LONGEST {
            return None;
        }
        let Pattern { key, sql, value } = pattern(sql)?;
        let known = self.lock().get(&key).cloned();
        let known = match known {
            Some(k) => k?,
            None => {
                let k = self.learn(&sql, &value).map(Arc::new);
                let mut map = self.lock();
                if map.len() >= PATTERNS {
                    map.clear();
                }
                map.insert(key, k.clone());
                k?
            }
        };
        let split = Split {
            shape: known.shape.clone(),
            text: known.text.clone(),
            value: Value::Expr(Box::new(plain_value(value)?)),
        };
        Some((split, sql))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Arc<Known>>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The full parser's shape of `sql`, when its value is what the plain
    /// parser reads from `value`.
    fn learn(&self, sql: &str, value: &[Token]) -> Option<Known> {
        let mut stmts = self.parser.parse(sql).ok()?;
        let mut stmt = stmts.pop().filter(|_| stmts.is_empty())?;
        rewrite::catalog_dialect(&mut stmt);
        if !matches!(statement::classify(&stmt), Kind::Query) {
            return None;
        }
        let split = shape::split(&stmt)?;
        let Value::Expr(found) = &split.value else {
            return None;
        };
        (**found == plain_value(value.to_vec())?).then_some(Known {
            shape: split.shape,
            text: split.text,
        })
    }
}

/// The value's tokens read as one expression by the plain parser.
fn plain_value(tokens: Vec<Token>) -> Option<ast::Expr> {
    let mut parser = Parser::new(&PostgreSqlDialect {}).with_tokens(tokens);
    let e = parser.parse_expr().ok()?;
    (parser.peek_token().token == Token::EOF).then_some(e)
}

fn keyword(t: &Token, k: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.keyword == k && w.quote_style.is_none())
}

/// A statement recognised by its tokens.
struct Pattern {
    /// The tokens, the value's literals left out: what the shape is kept
    /// under. Tokens are written with `Debug`, which escapes their text, so
    /// two token lists never write the same key.
    key: String,
    /// The statement as text again, comments left out: what the audit log
    /// records and what is parsed should the lookup not be answered.
    sql: String,
    value: Vec<Token>,
}

/// A statement's pattern: `SELECT … WHERE col = value [ORDER BY …] [LIMIT
/// …]`, one statement of plain tokens, the value made of literals,
/// function calls, casts and arithmetic.
fn pattern(sql: &str) -> Option<Pattern> {
    let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    tokens.retain(|t| !matches!(t, Token::Whitespace(_)));
    if tokens.last() == Some(&Token::SemiColon) {
        tokens.pop();
    }
    if !keyword(tokens.first()?, Keyword::SELECT) || !tokens.iter().all(plain) {
        return None;
    }
    let mut wheres = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| keyword(t, Keyword::WHERE));
    let (at, _) = wheres.next()?;
    if wheres.next().is_some() {
        return None;
    }
    // The column: a name, perhaps qualified.
    let mut i = at + 1;
    let Token::Word(mut column) = tokens.get(i)?.clone() else {
        return None;
    };
    i += 1;
    while tokens.get(i) == Some(&Token::Period) {
        let Token::Word(w) = tokens.get(i + 1)? else {
            return None;
        };
        column = w.clone();
        i += 2;
    }
    // `typreceive = 0` is rewritten for catalog queries: never a pattern.
    if tokens.get(i) != Some(&Token::Eq) || rewrite::is_regproc(&column.value) {
        return None;
    }
    let start = i + 1;
    let end = value_end(&tokens, start)?;
    let mut key = String::with_capacity(2 * sql.len());
    let mut text = String::with_capacity(sql.len());
    for (n, t) in tokens.iter().enumerate() {
        let literal = (start..end).contains(&n)
            && matches!(t, Token::Number(..) | Token::SingleQuotedString(_));
        match t {
            Token::Number(..) if literal => key.push_str("\u{1}n"),
            Token::SingleQuotedString(_) if literal => key.push_str("\u{1}s"),
            t => write!(key, "{t:?}").ok()?,
        }
        key.push(' ');
        write_token(&mut text, t)?;
        text.push(' ');
    }
    text.pop();
    Some(Pattern {
        key,
        sql: text,
        value: tokens[start..end].to_vec(),
    })
}

/// The tokens a recognised statement may have: names, numbers, quoted
/// texts and a few operators, each written back exactly by `write_token`.
fn plain(t: &Token) -> bool {
    match t {
        Token::Word(w) => matches!(w.quote_style, None | Some('"')),
        Token::Number(_, long) => !long,
        Token::SingleQuotedString(_)
        | Token::Comma
        | Token::Period
        | Token::Eq
        | Token::LParen
        | Token::RParen
        | Token::DoubleColon
        | Token::StringConcat
        | Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div => true,
        _ => false,
    }
}

/// `t` as SQL text, its quotes doubled (sqlparser's `Display` writes a
/// quoted text's quotes as they are).
fn write_token(out: &mut String, t: &Token) -> Option<()> {
    match t {
        Token::Word(w) if w.quote_style == Some('"') => {
            write!(out, "\"{}\"", w.value.replace('"', "\"\"")).ok()
        }
        Token::SingleQuotedString(s) => write!(out, "'{}'", s.replace('\'', "''")).ok(),
        t => write!(out, "{t}").ok(),
    }
}

/// Where the value starting at `start` ends: at `ORDER`, `LIMIT`, `OFFSET`
/// or `FETCH` outside parentheses, or at the end. `None` for any token a
/// plain value does not have (a second condition, a subquery, a column).
fn value_end(tokens: &[Token], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while let Some(t) = tokens.get(i) {
        let ends = [
            Keyword::ORDER,
            Keyword::LIMIT,
            Keyword::OFFSET,
            Keyword::FETCH,
        ];
        if depth == 0 && ends.iter().any(|k| keyword(t, *k)) {
            break;
        }
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.checked_sub(1)?,
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::Comma
            | Token::DoubleColon
            | Token::StringConcat
            | Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div => {}
            // A function's name or a cast's type; never a column.
            Token::Word(w)
                if w.quote_style.is_none()
                    && (tokens.get(i + 1) == Some(&Token::LParen)
                        || (i > start && tokens[i - 1] == Token::DoubleColon))
                    && !is_oid_alias(&w.value) => {}
            _ => return None,
        }
        i += 1;
    }
    (i > start && depth == 0).then_some(i)
}

/// `::regclass` and the like are resolved against the catalog.
fn is_oid_alias(word: &str) -> bool {
    let w = word.to_ascii_lowercase();
    w.starts_with("reg") || w == "oid" || w.starts_with("pg_")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full path: parser, catalog rewrites, `shape::split`.
    fn full(sql: &str) -> Option<Split> {
        let mut stmts = PostgresCompatibilityParser::new().parse(sql).ok()?;
        let mut stmt = stmts.pop()?;
        rewrite::catalog_dialect(&mut stmt);
        shape::split(&stmt)
    }

    fn same(a: &Split, b: &Split) -> bool {
        let value = |s: &Split| match &s.value {
            Value::Expr(e) => e.to_string(),
            Value::Param(p) => p.clone(),
        };
        a.shape == b.shape && a.text == b.text && value(a) == value(b)
    }

    #[test]
    fn statements_of_a_pattern_split_as_the_full_parser_splits_them() {
        let r = Recogniser::default();
        let shapes = [
            "SELECT * FROM customer_month WHERE customer_id = 'C' || lpad({n}::text, 7, '0') ORDER BY period",
            "select customer_id, period from customer_month where customer_id = '{s}' limit 5;",
            "SELECT * FROM t AS x WHERE x.id = {n} ORDER BY a DESC NULLS LAST LIMIT 3 OFFSET 1",
            "SELECT a FROM t WHERE id = -{n} -- a comment\n",
            "SELECT a FROM t WHERE id = upper('{s}') || '{s}'",
        ];
        let mut state = 7u64;
        for shape in shapes {
            for round in 0..20 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let n = (state >> 33) % 100_000;
                let s = match round % 4 {
                    0 => String::new(),
                    1 => "it''s".to_string(),
                    2 => format!("C{n:07}"),
                    _ => "ünï ".to_string(),
                };
                let sql = shape.replace("{n}", &n.to_string()).replace("{s}", &s);
                let (fast, text) = r.split(&sql).unwrap_or_else(|| panic!("recognised: {sql}"));
                // The text again parses to the same statement.
                assert!(same(&full(&text).expect("a lookup"), &fast), "{text}");
                let slow = full(&sql).expect("a lookup");
                assert!(same(&fast, &slow), "{sql}");
            }
        }
        assert_eq!(r.lock().len(), shapes.len(), "one pattern per shape");
    }

    #[test]
    fn what_is_not_a_plain_lookup_is_not_recognised() {
        let r = Recogniser::default();
        for sql in [
            "SELECT * FROM t WHERE a = 1 AND b = 2",
            "SELECT * FROM t WHERE a = 1; SELECT 2",
            "SELECT * FROM t WHERE a = b",
            "SELECT * FROM t WHERE a = (SELECT 1)",
            "SELECT * FROM t WHERE 'k' = a",
            "SELECT * FROM t WHERE a = E'k'",
            "SELECT * FROM t WHERE a = $$k$$",
            "SELECT * FROM t WHERE a = $1",
            "SELECT * FROM t WHERE a = 'x'::regclass",
            "SELECT * FROM pg_catalog.pg_type WHERE typreceive = 0",
            "SELECT * FROM pg_type WHERE oid = 25",
            "SELECT count(*) FROM t WHERE a = 1",
            "SELECT * FROM t JOIN u ON t.a = u.a WHERE a = 1",
            "SELECT * FROM t WHERE a = now()",
            "SELECT * FROM t WHERE a = 1 GROUP BY a",
            "SELECT * FROM t WHERE a = ((1)",
            "DELETE FROM t WHERE a = 1",
            "WITH x AS (SELECT 1) SELECT * FROM x WHERE a = 1",
        ] {
            // The same statement twice: once learnt, once known.
            for _ in 0..2 {
                let fast = r.split(sql).map(|(s, _)| s);
                let slow = full(sql);
                match (&fast, &slow) {
                    (None, _) => {}
                    (Some(f), Some(s)) => assert!(same(f, s), "{sql}"),
                    (Some(_), None) => panic!("recognised what is not a lookup: {sql}"),
                }
            }
        }
        assert!(r.split("SELECT * FROM t WHERE a = 1 GROUP BY a").is_none());
        assert!(r.split("SELECT * FROM t WHERE a = 1 AND b = 2").is_none());
        assert!(r.split("SELECT * FROM pg_type WHERE oid = 25").is_none());
    }

    #[test]
    fn the_text_again_has_no_comments_and_no_pattern_is_two_statements() {
        let r = Recogniser::default();
        let (_, text) = r
            .split("SELECT * /* it's */ FROM t WHERE a = 'sec''ret' -- x'\n;")
            .expect("a lookup");
        assert_eq!(text, "SELECT * FROM t WHERE a = 'sec''ret'");
        // The audit log leaves quoted values out of this text.
        assert!(!crate::engine::without_quoted_values(&text).contains("sec"));
        // One column named `x" "y`, and column x named y: `Display` writes
        // both `"x" "y"`; their patterns differ.
        let one = pattern(r#"SELECT "x"" ""y" FROM t WHERE a = 1"#).expect("pattern");
        let two = pattern(r#"SELECT "x" "y" FROM t WHERE a = 1"#).expect("pattern");
        assert_ne!(one.key, two.key);
        assert_eq!(one.sql, r#"SELECT "x"" ""y" FROM t WHERE a = 1"#);
        // The value's literals, and only they, are left out of the key.
        let a = pattern("SELECT * FROM t WHERE a = 'p' || 1 LIMIT 5").expect("pattern");
        let b = pattern("SELECT * FROM t WHERE a = 'q' || 2 LIMIT 5").expect("pattern");
        let c = pattern("SELECT * FROM t WHERE a = 'q' || 2 LIMIT 6").expect("pattern");
        assert_eq!(a.key, b.key);
        assert_ne!(b.key, c.key);
    }

    /// Mutated lookups (characters dropped, doubled or put in from SQL's
    /// alphabet): whatever is recognised, learnt or known, splits as the
    /// full parser splits it.
    #[test]
    fn mutated_statements_are_recognised_only_as_the_full_parser_reads_them() {
        let r = Recogniser::default();
        let seeds = [
            "SELECT * FROM customer_month WHERE customer_id = 'C' || lpad(42::text, 7, '0') ORDER BY period",
            "SELECT a, b AS x FROM s.t WHERE t.id = -5 LIMIT 3 OFFSET 1",
            "SELECT \"q\"\"x\" FROM t WHERE k = 'it''s'",
        ];
        let alphabet: Vec<char> = "'\"();,.:|=-+*/ $EeNn0159abkwhereorderlimit\n"
            .chars()
            .collect();
        let mut state = 99u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % n.max(1)
        };
        let mut recognised = 0;
        for round in 0..3000 {
            let mut sql: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..1 + next(3) {
                let at = next(sql.len());
                match next(3) {
                    0 if !sql.is_empty() => {
                        sql.remove(at);
                    }
                    1 if !sql.is_empty() => sql.insert(at, sql[at]),
                    _ => sql.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let sql: String = sql.into_iter().collect();
            // Twice: learnt, then known.
            for _ in 0..2 {
                if let Some((fast, _)) = r.split(&sql) {
                    recognised += 1;
                    let slow = full(&sql).unwrap_or_else(|| panic!("not a lookup: {sql}"));
                    assert!(same(&fast, &slow), "{sql}");
                }
            }
        }
        // Enough of them stay lookups for the check to mean something.
        assert!(recognised > 500, "{recognised} recognised");
    }

    /// The guard against rewrites the plain parser does not make: a
    /// pattern is learnt only when the full parser's value is the one the
    /// value's tokens read (here told apart by handing `learn` other tokens).
    #[test]
    fn a_pattern_is_learnt_only_when_both_parsers_read_one_value() {
        let r = Recogniser::default();
        let tokens = |s: &str| {
            Tokenizer::new(&PostgreSqlDialect {}, s)
                .tokenize()
                .expect("tokens")
        };
        let sql = "SELECT * FROM t WHERE a = upper('x')";
        assert!(r.learn(sql, &tokens("upper('x')")).is_some());
        assert!(r.learn(sql, &tokens("lower('x')")).is_none());
        assert!(r.learn(sql, &tokens("upper('x') extra")).is_none());
    }
}
