//! Which labelled rows train the churn model and which test it.
//!
//! By time (the default): the last `test_periods` labelled periods are held
//! out and training uses only periods whose outcome window closes before the
//! first of them. For data without a time axis (a telco snapshot): a seeded
//! fraction of the units named by `by` (customers, say) is held out; every
//! row of a unit falls on the same side, so a customer never trains and
//! tests at once.

use crate::period::Period;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    Time {
        period_column: String,
        test_periods: usize,
        horizon_months: u32,
    },
    Fraction {
        by: String,
        test_fraction: f64,
        seed: u64,
    },
}

/// Where a row goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Train,
    Test,
    /// Labelled, but in the time split's gap (its outcome window overlaps
    /// the test months): scored only.
    Neither,
}

/// A split resolved against the data.
#[derive(Debug, Clone)]
pub enum Sides {
    Time {
        train: BTreeSet<Period>,
        test: BTreeSet<Period>,
    },
    Fraction {
        test_fraction: f64,
        seed: u64,
    },
}

impl Split {
    /// The input column that decides a row's side.
    pub fn column(&self) -> &str {
        match self {
            Split::Time { period_column, .. } => period_column,
            Split::Fraction { by, .. } => by,
        }
    }

    /// The sides, given the labelled periods (the time split's; the
    /// fraction split needs none); `Err` says why the model cannot be
    /// fitted yet.
    pub fn sides(&self, labelled: &BTreeSet<Period>) -> Result<Sides, String> {
        let Split::Time {
            test_periods,
            horizon_months,
            ..
        } = self
        else {
            return Ok(self.fraction_sides());
        };
        let test: BTreeSet<Period> = labelled.iter().rev().take(*test_periods).copied().collect();
        let Some(&first_test) = test.first() else {
            return Err("no row has a known outcome yet".into());
        };
        let train: BTreeSet<Period> = labelled
            .iter()
            .filter(|p| p.months_until(first_test) > i64::from(*horizon_months))
            .copied()
            .collect();
        if train.is_empty() || labelled.len() <= *test_periods {
            return Err(format!(
                "{} labelled period(s) ({}): none is {} or more months before the first test period {first_test}",
                labelled.len(),
                span(labelled),
                horizon_months + 1
            ));
        }
        Ok(Sides::Time { train, test })
    }

    fn fraction_sides(&self) -> Sides {
        match self {
            Split::Fraction {
                test_fraction,
                seed,
                ..
            } => Sides::Fraction {
                test_fraction: *test_fraction,
                seed: *seed,
            },
            Split::Time { .. } => Sides::Time {
                train: BTreeSet::new(),
                test: BTreeSet::new(),
            },
        }
    }
}

impl Sides {
    /// The side of a labelled row whose unit (period, or `by` value) is
    /// `unit`; an unreadable period is scored only.
    pub fn side(&self, unit: &str) -> Side {
        match self {
            Sides::Time { train, test } => match unit.parse::<Period>() {
                Ok(p) if train.contains(&p) => Side::Train,
                Ok(p) if test.contains(&p) => Side::Test,
                _ => Side::Neither,
            },
            Sides::Fraction {
                test_fraction,
                seed,
            } => {
                if unit_draw(*seed, unit) < *test_fraction {
                    Side::Test
                } else {
                    Side::Train
                }
            }
        }
    }

    /// The split in words, for `_model_metrics`.
    pub fn describe(&self, split: &Split, train_rows: usize, test_rows: usize) -> String {
        match (split, self) {
            (Split::Time { horizon_months, .. }, Sides::Time { train, test }) => format!(
                "train {} ({train_rows} rows), test {} ({test_rows} rows); outcome window {horizon_months} months",
                span(train),
                span(test),
            ),
            (
                Split::Fraction {
                    by,
                    test_fraction,
                    seed,
                },
                _,
            ) => format!(
                "seeded split by {by}: test fraction {test_fraction}, seed {seed}; train {train_rows} rows, test {test_rows} rows"
            ),
            (Split::Time { .. }, Sides::Fraction { .. }) => {
                format!("train {train_rows} rows, test {test_rows} rows")
            }
        }
    }
}

/// A unit's uniform draw in [0, 1): SplitMix64's finaliser over the 64-bit
/// FNV-1a hash of the seed (8 bytes, little-endian) followed by the unit's
/// UTF-8 bytes, its top 53 bits over 2^53. Fixed and documented so that an
/// analyst can recompute the split anywhere.
pub fn unit_draw(seed: u64, unit: &str) -> f64 {
    let h = fnv1a64(seed.to_le_bytes().iter().chain(unit.as_bytes()));
    (splitmix64(h) >> 11) as f64 / (1u64 << 53) as f64
}

fn fnv1a64<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(super) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn span(ps: &BTreeSet<Period>) -> String {
    match (ps.first(), ps.last()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published test vectors: FNV-1a 64 of "" and "a"; SplitMix64's first
    /// output from state 0 is the finaliser of 0.
    #[test]
    fn the_hashes_match_their_published_vectors() {
        assert_eq!(fnv1a64(b"".iter()), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a".iter()), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar".iter()), 0x8594_4171_f739_67e8);
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn a_fraction_holds_out_about_that_share_of_units_and_depends_on_the_seed() {
        let units: Vec<String> = (0..10_000).map(|i| format!("C{i:05}")).collect();
        let share = |seed: u64| {
            let sides = Split::Fraction {
                by: "customer_id".into(),
                test_fraction: 0.25,
                seed,
            }
            .fraction_sides();
            units.iter().filter(|u| sides.side(u) == Side::Test).count() as f64 / units.len() as f64
        };
        // Binomial(10,000, 0.25): sd 0.0043; 5 sd either side.
        for seed in [0, 7, 42] {
            let s = share(seed);
            assert!((s - 0.25).abs() < 0.022, "seed {seed}: {s}");
        }
        let test_of =
            |seed: u64| -> Vec<bool> { units.iter().map(|u| unit_draw(seed, u) < 0.25).collect() };
        assert_ne!(test_of(7), test_of(8), "another seed, another split");
        assert_eq!(test_of(7), test_of(7), "the same seed, the same split");
    }

    #[test]
    fn the_time_split_leaves_a_gap_of_the_outcome_window() {
        let p = |s: &str| s.parse::<Period>().expect("period");
        let labelled: BTreeSet<Period> = (1..=9).map(|m| p(&format!("2024-{m:02}"))).collect();
        let split = Split::Time {
            period_column: "period".into(),
            test_periods: 2,
            horizon_months: 3,
        };
        let Ok(Sides::Time { train, test }) = split.sides(&labelled) else {
            panic!("fitted")
        };
        // Test 2024-08..09; training months end 4 months before 2024-08.
        assert_eq!(span(&test), "2024-08..2024-09");
        assert_eq!(span(&train), "2024-01..2024-04");
        let none: BTreeSet<Period> = BTreeSet::new();
        assert!(split.sides(&none).is_err());
    }
}
