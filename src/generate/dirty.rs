//! Deliberate data-quality defects.
//!
//! Each data row is independently dirty with probability `dirty_rate`
//! (one uniform draw per row from a per-source stream); a dirty row gets
//! exactly one applicable [`Kind`]. The corruption itself is applied to the
//! row's formatted fields here; duplicates and truncation are handled by the
//! file sinks because they act on whole lines.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A kind of defect, as counted in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Malformed,
    ImpossibleDate,
    NegativeAmount,
    UnknownCustomer,
    Duplicate,
    Truncated,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Malformed,
        Kind::ImpossibleDate,
        Kind::NegativeAmount,
        Kind::UnknownCustomer,
        Kind::Duplicate,
        Kind::Truncated,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Malformed => "malformed",
            Kind::ImpossibleDate => "impossible_date",
            Kind::NegativeAmount => "negative_amount",
            Kind::UnknownCustomer => "unknown_customer",
            Kind::Duplicate => "duplicate",
            Kind::Truncated => "truncated",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How a source writes its date/time field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateStyle {
    /// `YYYY-MM-DD` or `YYYY-MM-DD…` (ISO date first: also covers
    /// `YYYY-MM-DD HH:MM:SS`, `…T…+08:00` and `…T…Z`).
    IsoPrefix,
    /// `DD/MM/YYYY HH:MM:SS`.
    Dmy,
}

/// Where the corruptible fields of a row are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub customer: usize,
    pub date: Option<(usize, DateStyle)>,
    /// A numeric field that may receive a non-numeric token.
    pub numeric: Option<usize>,
    /// The money field that may be negated.
    pub amount: Option<usize>,
    /// Text rows (CSV, pipe, JSONL) can be malformed; Parquet rows cannot.
    pub text: bool,
}

/// Per-source dirty-row decisions.
pub(crate) struct Dice {
    rng: ChaCha8Rng,
    rate: f64,
}

impl Dice {
    pub(crate) fn new(rng: ChaCha8Rng, rate: f64) -> Dice {
        Dice { rng, rate }
    }

    /// Decide whether the next row is dirty, and how. `has_clean`: a previous
    /// clean row exists in the same file (needed for a duplicate);
    /// `amount_positive`: the row has a positive amount that can be negated.
    pub(crate) fn roll(
        &mut self,
        layout: &Layout,
        has_clean: bool,
        amount_positive: bool,
    ) -> Option<Kind> {
        let u: f64 = self.rng.random();
        if u >= self.rate {
            return None;
        }
        let mut kinds = [Kind::UnknownCustomer; 5];
        let mut n = 0;
        let mut push = |k: Kind| {
            kinds[n] = k;
            n += 1;
        };
        if layout.text {
            push(Kind::Malformed);
            if layout.date.is_some() {
                push(Kind::ImpossibleDate);
            }
        }
        if layout.amount.is_some() && amount_positive {
            push(Kind::NegativeAmount);
        }
        push(Kind::UnknownCustomer);
        if has_clean {
            push(Kind::Duplicate);
        }
        Some(kinds[self.rng.random_range(0..n)])
    }

    /// A customer number that does not exist: 9xxxxxx (callers guarantee
    /// there are fewer than 9,000,000 customers).
    pub(crate) fn unknown_customer(&mut self) -> u32 {
        9_000_000 + self.rng.random_range(0..1_000_000)
    }

    /// Apply `kind` to formatted `fields` (not for duplicates/truncation;
    /// malformed JSON is cut by the sink, so only CSV/pipe rows change here).
    pub(crate) fn corrupt(
        &mut self,
        kind: Kind,
        fields: &mut Vec<String>,
        layout: &Layout,
        jsonl: bool,
    ) {
        match kind {
            Kind::Malformed => {
                if jsonl {
                    return;
                }
                let token = layout.numeric.filter(|_| self.rng.random_bool(0.5));
                match token {
                    Some(i) => {
                        let f = &mut fields[i];
                        let at = f.len().min(2);
                        f.insert(at, 'x');
                    }
                    None => {
                        let keep = fields.len().saturating_sub(2);
                        fields.truncate(keep);
                    }
                }
            }
            Kind::ImpossibleDate => {
                if let Some((i, style)) = layout.date {
                    let variant = self.rng.random_range(0..3u8);
                    impossible_date(&mut fields[i], style, variant);
                }
            }
            Kind::NegativeAmount => {
                if let Some(i) = layout.amount {
                    fields[i].insert(0, '-');
                }
            }
            Kind::UnknownCustomer => {
                let n = self.unknown_customer();
                let f = &mut fields[layout.customer];
                f.clear();
                f.push_str(&format!("C{n:07}"));
            }
            Kind::Duplicate | Kind::Truncated => {}
        }
    }
}

/// Replace the date part of a formatted timestamp with one that does not
/// exist: February 30th, month 13 or day 32, keeping the year and time.
pub(crate) fn impossible_date(field: &mut String, style: DateStyle, variant: u8) {
    if field.len() < 10 || !field.is_char_boundary(10) {
        return;
    }
    let date = field[..10].to_string();
    let rest = field[10..].to_string();
    let new_date = match style {
        DateStyle::IsoPrefix => {
            let (y, m, d) = (&date[0..4], &date[5..7], &date[8..10]);
            match variant {
                0 => format!("{y}-02-30"),
                1 => format!("{y}-13-{d}"),
                _ => format!("{y}-{m}-32"),
            }
        }
        DateStyle::Dmy => {
            let (d, m, y) = (&date[0..2], &date[3..5], &date[6..10]);
            match variant {
                0 => format!("30/02/{y}"),
                1 => format!("{d}/13/{y}"),
                _ => format!("32/{m}/{y}"),
            }
        }
    };
    field.clear();
    field.push_str(&new_date);
    field.push_str(&rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_dates() {
        let mut f = "2024-03-05 10:15:00".to_string();
        impossible_date(&mut f, DateStyle::IsoPrefix, 0);
        assert_eq!(f, "2024-02-30 10:15:00");
        let mut f = "05/03/2024 10:15:00".to_string();
        impossible_date(&mut f, DateStyle::Dmy, 1);
        assert_eq!(f, "05/13/2024 10:15:00");
        let mut f = "2024-03-05T01:02:03Z".to_string();
        impossible_date(&mut f, DateStyle::IsoPrefix, 2);
        assert_eq!(f, "2024-03-32T01:02:03Z");
    }
}
