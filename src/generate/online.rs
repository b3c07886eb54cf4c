//! Online banking sessions: `online/sessions_YYYY-MM.parquet`, one file per month.
//!
//! Non-purchase sessions carry `transactions = 0` and `amount = 0.00`; each
//! BG/NBD purchase is a session with `transactions = 1` and its Gamma-Gamma
//! amount. Rows are buffered into Arrow builders and written as Parquet row
//! groups of at most 65,536 rows.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Decimal128Builder, Int32Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::GenerateError;
use super::customers::Customer;
use super::dirty::{Dice, Kind, Layout};
use super::rng::{lognormal, pick, poisson, time_of_day};
use super::sink::{Counts, create};
use super::surveys::{CH_ONLINE, IN, POST, Touch};
use super::time::Day;

/// Rows per Parquet row group (and per Arrow batch).
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// Expected non-purchase sessions per customer-month by tier (top, high, middle, low), before the age factor.
pub(crate) const MONTHLY_RATE: [f64; 4] = [4.0, 5.0, 5.0, 3.0];

const LAYOUT: Layout = Layout {
    customer: 1,
    date: None,
    numeric: None,
    amount: Some(9),
    text: false,
};
const CHANNELS: [&str; 3] = ["web", "mobile", "messaging"];
const DEVICES: [&str; 3] = ["ios", "android", "desktop"];
const HOURS: [f64; 24] = [
    0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.6, 1.5, 2.2, 2.0, 1.8, 1.8, 2.4, 2.2, 1.8, 1.7, 1.8, 2.0, 2.4,
    2.8, 3.2, 3.4, 2.8, 1.6,
];
const SERVICE_TOUCH: [&str; 3] = ["internet banking", "mobile banking", "chat support"];
const PURCHASE_TOUCH: [&str; 3] = ["online payment", "mobile transfer", "chat payment"];

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OnlineEvent {
    pub cust: u32,
    pub secs: u32,
    pub channel: u8,
    pub device: u8,
    pub duration: i32,
    pub actions: i32,
    pub transactions: i32,
    pub amount: i64,
    pub failures: i32,
}

impl OnlineEvent {
    pub(crate) fn touch(&self) -> Touch {
        let ch = usize::from(self.channel);
        let purchase = self.transactions > 0;
        Touch {
            channel: CH_ONLINE,
            touchpoint: if purchase {
                PURCHASE_TOUCH[ch]
            } else {
                SERVICE_TOUCH[ch]
            },
            stage: if purchase { IN } else { POST },
            penalty: 0.04 - 0.12 * f64::from(self.failures),
        }
    }

    pub(crate) fn end(&self) -> u32 {
        self.secs + self.duration as u32
    }
}

fn channel_device(rng: &mut ChaCha8Rng, c: &Customer) -> (u8, u8) {
    let mobile = if c.birth_year > 1985 {
        0.7
    } else if c.birth_year > 1965 {
        0.55
    } else {
        0.35
    };
    let channel = pick(rng, &[1.0 - mobile - 0.08, mobile, 0.08]) as u8;
    let device = match channel {
        0 if rng.random::<f64>() < 0.9 => 2,
        _ => u8::from(rng.random::<f64>() >= 0.55),
    };
    (channel, device)
}

/// A non-purchase session.
pub(crate) fn draw_session(rng: &mut ChaCha8Rng, cust: u32, c: &Customer) -> OnlineEvent {
    let secs = time_of_day(rng, &HOURS);
    let (channel, device) = channel_device(rng, c);
    let duration = lognormal(rng, 150.0, 0.9).round().clamp(5.0, 7200.0) as i32;
    let actions = 1 + poisson(rng, f64::from(duration) / 45.0).min(500) as i32;
    let failures = poisson(rng, 0.08) as i32;
    OnlineEvent {
        cust,
        secs,
        channel,
        device,
        duration,
        actions,
        transactions: 0,
        amount: 0,
        failures,
    }
}

/// A purchase session at `secs`, drawn from the purchase's own stream.
pub(crate) fn draw_purchase(
    prng: &mut ChaCha8Rng,
    cust: u32,
    c: &Customer,
    secs: u32,
    spend: &rand_distr::Gamma<f64>,
) -> OnlineEvent {
    use rand_distr::Distribution;
    let z: f64 = spend.sample(prng) / c.nu;
    let amount = (z * 100.0).round().max(1.0) as i64;
    let (channel, device) = channel_device(prng, c);
    let duration = lognormal(prng, 300.0, 0.7).round().clamp(20.0, 7200.0) as i32;
    let actions = 3 + poisson(prng, 4.0).min(500) as i32;
    let failures = poisson(prng, 0.05) as i32;
    OnlineEvent {
        cust,
        secs,
        channel,
        device,
        duration,
        actions,
        transactions: 1,
        amount,
        failures,
    }
}

/// One output row (a clean row is kept for duplicates).
#[derive(Clone, Copy, Debug, Default)]
struct Row {
    session: u64,
    customer: u32,
    event: OnlineEvent,
    login_us: i64,
}

pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("session_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("device", DataType::Utf8, false),
        Field::new(
            "login_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("duration_seconds", DataType::Int32, false),
        Field::new("actions", DataType::Int32, false),
        Field::new("transactions", DataType::Int32, false),
        Field::new("amount", DataType::Decimal128(18, 2), false),
        Field::new("failures", DataType::Int32, false),
    ]))
}

pub(crate) struct OnlineFile {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<BufWriter<File>>,
    session_id: StringBuilder,
    customer_id: StringBuilder,
    channel: StringBuilder,
    device: StringBuilder,
    login_at: TimestampMicrosecondBuilder,
    duration: Int32Builder,
    actions: Int32Builder,
    transactions: Int32Builder,
    amount: Decimal128Builder,
    failures: Int32Builder,
    buffered: usize,
    last_clean: Option<Row>,
    counts: Counts,
    text: String,
}

fn pq_at(
    path: &std::path::Path,
) -> impl Fn(datafusion::parquet::errors::ParquetError) -> GenerateError + '_ {
    move |e| GenerateError::Parquet(format!("{}: {e}", path.display()))
}

fn arrow_at(
    path: &std::path::Path,
) -> impl Fn(datafusion::arrow::error::ArrowError) -> GenerateError + '_ {
    move |e| GenerateError::Parquet(format!("{}: {e}", path.display()))
}

impl OnlineFile {
    pub(crate) fn create(path: PathBuf) -> Result<OnlineFile, GenerateError> {
        let out = create(&path)?;
        let schema = schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer =
            ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(pq_at(&path))?;
        let amount = Decimal128Builder::new()
            .with_precision_and_scale(18, 2)
            .map_err(arrow_at(&path))?;
        Ok(OnlineFile {
            path,
            schema,
            writer,
            session_id: StringBuilder::new(),
            customer_id: StringBuilder::new(),
            channel: StringBuilder::new(),
            device: StringBuilder::new(),
            login_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            duration: Int32Builder::new(),
            actions: Int32Builder::new(),
            transactions: Int32Builder::new(),
            amount,
            failures: Int32Builder::new(),
            buffered: 0,
            last_clean: None,
            counts: Counts::default(),
            text: String::with_capacity(16),
        })
    }

    fn append(&mut self, row: &Row) -> Result<(), GenerateError> {
        use std::fmt::Write as _;
        self.text.clear();
        let _ = write!(self.text, "S{:010}", row.session);
        self.session_id.append_value(&self.text);
        self.text.clear();
        let _ = write!(self.text, "C{:07}", row.customer);
        self.customer_id.append_value(&self.text);
        let e = &row.event;
        self.channel.append_value(CHANNELS[usize::from(e.channel)]);
        self.device.append_value(DEVICES[usize::from(e.device)]);
        self.login_at.append_value(row.login_us);
        self.duration.append_value(e.duration);
        self.actions.append_value(e.actions);
        self.transactions.append_value(e.transactions);
        self.amount.append_value(i128::from(e.amount));
        self.failures.append_value(e.failures);
        self.buffered += 1;
        if self.buffered >= ROW_GROUP_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), GenerateError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.session_id.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.device.finish()),
            Arc::new(self.login_at.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.actions.finish()),
            Arc::new(self.transactions.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.failures.finish()),
        ];
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(arrow_at(&self.path))?;
        self.writer.write(&batch).map_err(pq_at(&self.path))?;
        self.buffered = 0;
        Ok(())
    }

    /// Write one day's sessions (sorted by login time).
    pub(crate) fn write_day(
        &mut self,
        dice: &mut Dice,
        events: &mut [OnlineEvent],
        day: &Day,
        next_id: &mut u64,
    ) -> Result<(), GenerateError> {
        events.sort_by_key(|e| (e.secs, e.cust));
        for e in events.iter() {
            let kind = dice.roll(&LAYOUT, self.last_clean.is_some(), e.amount > 0);
            if kind == Some(Kind::Duplicate) {
                if let Some(prev) = self.last_clean {
                    self.append(&prev)?;
                    self.counts.dirty[Kind::Duplicate.index()] += 1;
                    self.counts.rows += 1;
                }
                continue;
            }
            *next_id += 1;
            let mut row = Row {
                session: *next_id,
                customer: e.cust + 1,
                event: *e,
                login_us: (day.midnight_utc + i64::from(e.secs)) * 1_000_000,
            };
            match kind {
                Some(Kind::NegativeAmount) => row.event.amount = -row.event.amount,
                Some(Kind::UnknownCustomer) => row.customer = dice.unknown_customer(),
                _ => {}
            }
            self.append(&row)?;
            self.counts.rows += 1;
            match kind {
                None => {
                    self.counts.clean += 1;
                    self.last_clean = Some(row);
                }
                Some(k) => self.counts.dirty[k.index()] += 1,
            }
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Counts, GenerateError> {
        self.flush_batch()?;
        self.writer.close().map_err(pq_at(&self.path))?;
        Ok(self.counts)
    }
}
