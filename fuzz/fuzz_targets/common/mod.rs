//! What the reader targets share: a source with a representative set of
//! declared columns, and one file read through its format's `Reader` with a
//! `Sink` that conforms every raw batch (as `sources::load` does), checking
//! the invariants a load promises.
//!
//! The fuzz input's first byte chooses options (so a seed is a flag byte and
//! then the file); the rest is the file:
//! - bit 0: CSV `header: false`; fixed-width `encoding: gbk`
//! - bit 1: CSV `delimiter: "|"`; fixed-width `skip_lines: 1`
//! - bit 2: a periodic source (period 2024-03, business zone Hong Kong),
//!   its period column `at` (timestamp) or, with bit 3, `day` (date)

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use touchpoint::period::Period;
use touchpoint::sources::conform::Conformer;
use touchpoint::sources::control::Tally;
use touchpoint::sources::formats::Sink;
use touchpoint::sources::{
    CheckContext, Column, Drift, Format, RawBatch, SchemaChange, Source, table_schema,
};
use touchpoint::spec::types::ColumnType;
use touchpoint::sources::rejects::Rejects;
use touchpoint::warehouse::log::Rejected;

/// The declared columns, in this order (header-less CSV reads them by
/// position): a required string key, a string with accepted values, an int
/// with bounds, an exact decimal with bounds, a date, a timestamp with a
/// format and a zone, and a bool.
pub const COLUMNS: [&str; 7] = ["id", "channel", "qty", "amount", "day", "at", "flag"];

pub fn source(format: Format, flags: u8) -> Source {
    let mut src = Source::new("fuzz", "", format);
    let col = |name: &str, ty: ColumnType| Column::new(name, ty);
    let mut id = col("id", ColumnType::String);
    id.required = true;
    let mut channel = col("channel", ColumnType::String);
    channel.values = Some(
        ["atm", "branch", "online", "call_centre"]
            .map(String::from)
            .to_vec(),
    );
    let mut qty = col("qty", ColumnType::Int);
    qty.min = Some("0".into());
    qty.max = Some("7200".into());
    let mut amount = col(
        "amount",
        ColumnType::Decimal {
            precision: 12,
            scale: 2,
        },
    );
    amount.min = Some("-1000000".into());
    amount.max = Some("1000000.00".into());
    let day = col("day", ColumnType::Date);
    let mut at = col("at", ColumnType::Timestamp);
    at.format = Some("%d/%m/%Y %H:%M:%S".into());
    // Clocks change here (gaps and overlaps), unlike the business zone.
    at.timezone = Some(chrono_tz::Europe::London);
    let flag = col("flag", ColumnType::Bool);
    src.columns = vec![id, channel, qty, amount, day, at, flag];
    src.key = vec!["id".into()];
    // Drift is reported, not fatal: the rows still go through the conformer.
    src.on_schema_change = SchemaChange::Ignore;
    if flags & 4 != 0 {
        src.period_column = Some(if flags & 8 != 0 { "day" } else { "at" }.into());
    }
    src
}

/// A file of this process's own, rewritten for every input.
fn scratch(bytes: &[u8]) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "touchpoint-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed) % 2
    ));
    std::fs::write(&path, bytes).expect("write the scratch file");
    path
}

/// Read `file` as `src` and conform it; check the load's invariants.
pub fn read_and_conform(src: &Source, file: &[u8]) {
    let path = scratch(file);
    let schema = table_schema(src);
    let period = src.is_periodic().then_some(Period {
        year: 2024,
        month: 3,
    });
    let checks = CheckContext {
        timezone: Some(chrono_tz::Asia::Hong_Kong),
        ..Default::default()
    };
    let mut conformer = Conformer::new(src, schema.clone(), period, checks);
    let (mut emitted, mut loaded, mut conform_bad) = (0u64, 0u64, 0u64);
    let mut bad = Rejects::default();
    let mut drift = Drift::default();
    let mut tally = Tally::default();
    let mut emit = |raw: RawBatch, bad: &mut Rejects| {
        let n = raw.lines.len();
        assert_eq!(
            raw.columns.len(),
            src.columns.len(),
            "a raw column per declared column"
        );
        for c in &raw.columns {
            assert_eq!(c.len(), n, "raw columns as long as the batch");
        }
        emitted += n as u64;
        let before = bad.len();
        let batch = conformer
            .conform(raw, bad)
            .unwrap_or_else(|e| panic!("could not assemble rows: {e}"));
        conform_bad += bad.len() - before;
        assert_eq!(
            batch.schema(),
            schema,
            "a loaded batch has the table schema"
        );
        assert_eq!(
            batch.num_rows() as u64 + (bad.len() - before),
            n as u64,
            "each row of a batch is loaded or quarantined"
        );
        loaded += batch.num_rows() as u64;
        Ok(())
    };
    let sink = Sink {
        emit: &mut emit,
        bad: &mut bad,
        drift: &mut drift,
        tally: &mut tally,
    };
    let result = src.format.reader().read(src, &path, "fuzz.dat", sink);
    let early = match result {
        Ok(early) => early,
        Err(e) => panic!("the read failed as a whole: {e}"),
    };
    let read = emitted + early;
    let quarantined = bad.len();
    assert_eq!(
        quarantined,
        early + conform_bad,
        "early rejects are the rows the reader says it rejected"
    );
    assert_eq!(
        read,
        loaded + quarantined,
        "rows read = rows loaded + rows quarantined"
    );
    for r in &rows_of(bad) {
        assert!(
            !r.reason.trim().is_empty(),
            "a quarantined row has a reason: {r:?}"
        );
        assert_eq!(r.file, "fuzz.dat");
        assert!(r.line >= 1, "a rejected row names its line: {r:?}");
        if let Some(c) = &r.column {
            assert!(COLUMNS.contains(&c.as_str()), "a declared column: {r:?}");
        }
        let shown = r.value.as_deref().or(r.record.as_deref()).unwrap_or("");
        if let Some(piece) = leaked(&r.reason, shown) {
            panic!("the reason holds the value ({piece:?}): {r:?}");
        }
    }
}

/// The rejected rows as `_quarantine` stores them (values and records cut).
fn rows_of(bad: Rejects) -> Vec<Rejected> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let mut out = Vec::new();
    for b in bad.into_quarantine("r", "s", "p") {
        let b = b.expect("a quarantine batch");
        let col = |n: &str| b.column(b.schema().index_of(n).expect("column")).clone();
        let (file, line, column) = (col("file"), col("line"), col("column_name"));
        let (value, reason, record) = (col("value"), col("reason"), col("record"));
        let text = |a: &datafusion::arrow::array::ArrayRef, r: usize| {
            let s = a.as_string::<i32>();
            s.is_valid(r).then(|| s.value(r).to_string())
        };
        for r in 0..b.num_rows() {
            out.push(Rejected {
                file: text(&file, r).unwrap_or_default(),
                line: line.as_primitive::<Int64Type>().value(r),
                column: text(&column, r),
                value: text(&value, r),
                reason: text(&reason, r).unwrap_or_default(),
                record: text(&record, r),
            });
        }
    }
    out
}

/// Text a reason may hold: each reason the declaration can give (its names,
/// accepted values, bounds, formats, zones and period), and the readers' and
/// parsers' own words; a piece of a value is allowed only inside one line.
const VOCABULARY: &str = "id channel qty amount day at flag
missing required value
not an int
not a bool (true/false, Y/N, 1/0)
not a decimal(12,2)
more than 2 decimal places
does not fit decimal(12,2)
not a date (%Y-%m-%d): 
not a timestamp (%d/%m/%Y %H:%M:%S): 
a local time that does not exist in time zone Europe/London
below the minimum 0
below the minimum -1000000
above the maximum 7200
above the maximum 1000000.00
not an accepted value (atm, branch, online, call_centre)
outside the run's period 2024-03
duplicate key (id; the first copy was kept)
input is out of range
no possible date and time matching input
input is not enough for unique date and time
input contains invalid characters
premature end of input
trailing input
bad or unsupported format string
malformed record: expected 7 fields, found 
malformed JSON: not an object (column 
malformed JSON: EOF while parsing a value at line 1 column 
EOF while parsing an object at line 1 column 
EOF while parsing a string at line 1 column 
EOF while parsing a list at line 1 column 
expected `,` or `}` at line 1 column 
expected `,` or `]` at line 1 column 
expected `:` at line 1 column 
expected value at line 1 column 
expected ident at line 1 column 
trailing characters at line 1 column 
trailing comma at line 1 column 
key must be a string at line 1 column 
control character (\\u0000-\\u001F) found while parsing a string at line 1 column 
invalid escape at line 1 column 
invalid number at line 1 column 
number out of range at line 1 column 
invalid unicode code point at line 1 column 
lone leading surrogate in hex escape at line 1 column 
unexpected end of hex escape at line 1 column 
recursion limit exceeded at line 1 column 
not valid UTF-8 text (declare the source's `encoding:`)
not valid GBK text
not valid GBK text (or a character cut by the layout)
not valid UTF-8 text (or a character cut by the layout)";

/// A piece of the value (8 characters or more) that the reason repeats and
/// that is not the declaration's or the messages' own text.
fn leaked(reason: &str, value: &str) -> Option<String> {
    const W: usize = 8;
    let chars: Vec<char> = value.chars().collect();
    (0..=chars.len().saturating_sub(W))
        .map(|i| {
            chars[i..(i + W).min(chars.len())]
                .iter()
                .collect::<String>()
        })
        .filter(|w| w.chars().count() == W && !w.trim().is_empty())
        .find(|w| reason.contains(w.as_str()) && !VOCABULARY.contains(w.as_str()))
}
