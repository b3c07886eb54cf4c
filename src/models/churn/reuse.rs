//! The churn step's fit kept in its table's commit tag, so that a rebuild
//! of some months can score them without fitting again (`refit:
//! on_change`). The fit is a function of its training and test rows, and
//! of which months have an outcome (they decide the split); rows are sorted
//! before the fit reads them (`rows`), so the same rows give the same fit
//! bit for bit. The tag also keeps each training and test month's
//! [`fingerprint`](super::fingerprint). When the months a rebuild replaces
//! have outcomes exactly where they had them, and each training or test
//! month among them has the rows it had, fitting again would give the kept
//! fit: it scores the months instead.
//!
//! The tag's fit part is `digest+json`: the digest that every run compares
//! (see `fit_digest`), then the numbers, each float as its bits (exact,
//! whatever a JSON parser does with decimals). A kept fit is used only
//! when its numbers give its digest again, and only for a time split (a
//! fraction split's rows are in every month).

use super::fingerprint::{Fingerprints, MonthRows};
use super::fit_digest;
use super::split::Sides;
use crate::models::analytics::logistic::Logistic;
use crate::period::Period;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The fit's numbers as kept in the tag.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kept {
    coefficients: Vec<u64>,
    means: Vec<u64>,
    scales: Vec<u64>,
    impute: Vec<u64>,
    train: Vec<String>,
    test: Vec<String>,
    labelled: Vec<String>,
    months: Fingerprints,
}

/// A fit that can score without fitting again.
pub(super) struct Reusable {
    pub fitted: Logistic,
    /// Each feature's training mean, for its missing values.
    pub impute: Vec<f64>,
    pub sides: Sides,
    /// The months that had an outcome when it was fitted.
    pub labelled: BTreeSet<Period>,
    /// Its training and test months' rows.
    pub months: BTreeMap<Period, MonthRows>,
}

/// The fit part of the step's tag: the digest, and for a time split the
/// numbers that [`load`] reads back.
pub(super) fn save(
    digest: &str,
    fitted: &Logistic,
    impute: &[f64],
    sides: &Sides,
    labelled: &BTreeSet<Period>,
    months: &Fingerprints,
) -> String {
    let Sides::Time { train, test } = sides else {
        return digest.to_string();
    };
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect();
    let text = |s: &BTreeSet<Period>| s.iter().map(Period::to_string).collect();
    let kept = Kept {
        coefficients: bits(&fitted.coefficients),
        means: bits(&fitted.means),
        scales: bits(&fitted.scales),
        impute: bits(impute),
        train: text(train),
        test: text(test),
        labelled: text(labelled),
        months: months.clone(),
    };
    match serde_json::to_string(&kept) {
        Ok(json) => format!("{digest}+{json}"),
        Err(_) => digest.to_string(),
    }
}

/// The digest of a fit part (what the runs compare).
pub(super) fn digest_of(fit: &str) -> &str {
    fit.split_once('+').map_or(fit, |(d, _)| d)
}

/// The kept fit of a fit part, if it has one whose numbers give its digest.
pub(super) fn load(fit: &str) -> Option<Reusable> {
    let (digest, json) = fit.split_once('+')?;
    let kept: Kept = serde_json::from_str(json).ok()?;
    let floats = |v: &[u64]| v.iter().map(|b| f64::from_bits(*b)).collect::<Vec<f64>>();
    let months = |v: &[String]| {
        v.iter()
            .map(|p| p.parse::<Period>().ok())
            .collect::<Option<BTreeSet<Period>>>()
    };
    let fitted = Logistic {
        coefficients: floats(&kept.coefficients),
        means: floats(&kept.means),
        scales: floats(&kept.scales),
        // Not used to score, nor part of the digest.
        iterations: 0,
        converged: true,
        log_likelihood: f64::NAN,
        ridge: 0.0,
    };
    let impute = floats(&kept.impute);
    let k = impute.len();
    if fitted.coefficients.len() != k + 1 || fitted.means.len() != k || fitted.scales.len() != k {
        return None;
    }
    let sides = Sides::Time {
        train: months(&kept.train)?,
        test: months(&kept.test)?,
    };
    let labelled = months(&kept.labelled)?;
    let rows = kept
        .months
        .iter()
        .map(|(p, r)| Some((p.parse::<Period>().ok()?, *r)))
        .collect::<Option<BTreeMap<Period, MonthRows>>>()?;
    (fit_digest(&fitted, &impute, &sides) == digest).then_some(Reusable {
        fitted,
        impute,
        sides,
        labelled,
        months: rows,
    })
}

impl Reusable {
    /// Whether fitting again after the `changed` months were rebuilt would
    /// give this fit, `now` being those months' labelled rows: the months
    /// with an outcome among them are those that had one, and each of them
    /// that trains or tests the fit has the rows it had.
    pub fn holds(&self, changed: &BTreeSet<Period>, now: &BTreeMap<Period, MonthRows>) -> bool {
        let Sides::Time { train, test } = &self.sides else {
            return false;
        };
        let had: BTreeSet<&Period> = changed.intersection(&self.labelled).collect();
        let has: BTreeSet<&Period> = now.keys().filter(|p| changed.contains(p)).collect();
        had == has
            && changed
                .iter()
                .filter(|p| train.contains(p) || test.contains(p))
                .all(|p| now.get(p).is_some_and(|r| self.months.get(p) == Some(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(v: &[&str]) -> BTreeSet<Period> {
        v.iter().map(|p| p.parse().expect("period")).collect()
    }

    struct Fit {
        fitted: Logistic,
        impute: Vec<f64>,
        sides: Sides,
        labelled: BTreeSet<Period>,
        months: Fingerprints,
    }

    /// Trained on January and February, tested on May; outcomes known to May.
    fn fit() -> Fit {
        let fitted = Logistic {
            // Floats whose shortest decimals a parser could round wrongly.
            coefficients: vec![-2.5, 0.1 + 0.2, 1.0 / 3.0],
            means: vec![f64::MIN_POSITIVE, 123_456.789_012_345_67],
            scales: vec![1e-300, 7.0],
            iterations: 9,
            converged: true,
            log_likelihood: -1.0,
            ridge: 1.0,
        };
        let mut rows = Fingerprints::new();
        for m in ["2024-01", "2024-02", "2024-05"] {
            crate::models::churn::fingerprint::add(&mut rows, m, &[1.0, 2.0, 0.0]);
        }
        Fit {
            fitted,
            impute: vec![0.5, 2.0 / 3.0],
            sides: Sides::Time {
                train: months(&["2024-01", "2024-02"]),
                test: months(&["2024-05"]),
            },
            labelled: months(&["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]),
            months: rows,
        }
    }

    fn kept(f: &Fit) -> String {
        let digest = fit_digest(&f.fitted, &f.impute, &f.sides);
        save(
            &digest,
            &f.fitted,
            &f.impute,
            &f.sides,
            &f.labelled,
            &f.months,
        )
    }

    #[test]
    fn a_kept_fit_reads_back_bit_for_bit() {
        let f = fit();
        let part = kept(&f);
        assert_eq!(digest_of(&part), fit_digest(&f.fitted, &f.impute, &f.sides));
        let back = load(&part).expect("loads");
        assert_eq!(back.fitted.coefficients, f.fitted.coefficients);
        assert_eq!(back.fitted.means, f.fitted.means);
        assert_eq!(back.fitted.scales, f.fitted.scales);
        assert_eq!(back.impute, f.impute);
        assert_eq!(back.labelled, f.labelled);
        assert_eq!(back.months.len(), 3);
        let x = [0.25, 9.0];
        assert_eq!(
            back.fitted.predict(&x).to_bits(),
            f.fitted.predict(&x).to_bits()
        );
    }

    #[test]
    fn a_kept_fit_that_does_not_give_its_digest_is_not_used() {
        let f = fit();
        let part = kept(&f);
        let digest = digest_of(&part).to_string();
        // One coefficient's last bit changed.
        let bits = f.fitted.coefficients[1].to_bits();
        let edited = part.replacen(&bits.to_string(), &(bits ^ 1).to_string(), 1);
        assert_ne!(edited, part);
        assert!(load(&edited).is_none());
        // Another digest, a digest alone, or no JSON.
        assert!(load(&part.replacen(&digest, "0000000000000000", 1)).is_none());
        assert!(load(&digest).is_none());
        assert!(load(&format!("{digest}+{{")).is_none());
        // A fraction split keeps no numbers.
        let fraction = Sides::Fraction {
            test_fraction: 0.25,
            seed: 7,
        };
        let d = fit_digest(&f.fitted, &f.impute, &fraction);
        assert_eq!(
            save(&d, &f.fitted, &f.impute, &fraction, &f.labelled, &f.months),
            d
        );
    }

    #[test]
    fn it_holds_while_the_changed_months_give_the_fit_the_same_rows() {
        let f = fit();
        let r = load(&kept(&f)).expect("loads");
        let rows = |v: &[(&str, [f64; 3])]| {
            let mut out = Fingerprints::new();
            for (m, row) in v {
                crate::models::churn::fingerprint::add(&mut out, m, row);
            }
            out.into_iter()
                .map(|(m, r)| (m.parse::<Period>().expect("period"), r))
                .collect::<BTreeMap<_, _>>()
        };
        let same = [1.0, 2.0, 0.0];
        // The last months, still without outcomes.
        assert!(r.holds(&months(&["2024-06", "2024-07"]), &rows(&[])));
        // A month in the gap between training and test: read by no fit.
        assert!(r.holds(
            &months(&["2024-03"]),
            &rows(&[("2024-03", [9.0, 9.0, 1.0])])
        ));
        // Training and test months written again with the same rows.
        assert!(r.holds(
            &months(&["2024-02", "2024-05", "2024-06"]),
            &rows(&[("2024-02", same), ("2024-05", same)])
        ));
        // A training month's value, a test month's label, a row more.
        assert!(!r.holds(
            &months(&["2024-02"]),
            &rows(&[("2024-02", [1.5, 2.0, 0.0])])
        ));
        assert!(!r.holds(
            &months(&["2024-05"]),
            &rows(&[("2024-05", [1.0, 2.0, 1.0])])
        ));
        assert!(!r.holds(
            &months(&["2024-01"]),
            &rows(&[("2024-01", same), ("2024-01", same)])
        ));
        // A month that gained outcomes moves the split; one that lost them too.
        assert!(!r.holds(&months(&["2024-06"]), &rows(&[("2024-06", same)])));
        assert!(!r.holds(&months(&["2024-03"]), &rows(&[])));
        assert!(!r.holds(&months(&["2024-02"]), &rows(&[])));
    }

    /// The step itself: a rebuild of months that leaves the fit's rows as
    /// they were scores them with the kept fit, exactly as a fit on the
    /// same rows would; a month gaining outcomes, a training month's rows
    /// changed, or `refit: always` fits again.
    mod step {
        use crate::models::churn::{ChurnSpec, ChurnStep};
        use crate::models::{Built, Rescore};
        use datafusion::arrow::array::{AsArray, Float64Array, RecordBatch, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
        use datafusion::datasource::MemTable;
        use datafusion::prelude::SessionContext;
        use std::collections::{BTreeMap, BTreeSet};
        use std::sync::Arc;

        /// 40 customers a month, January to July; outcomes known up to
        /// `labelled_to`; `x` of the month `shifted` moved by 0.5.
        fn register(ctx: &SessionContext, labelled_to: &str, shifted: Option<&str>) {
            let (mut ids, mut periods, mut ys, mut xs) = (vec![], vec![], vec![], vec![]);
            for m in 1..=7 {
                let period = format!("2024-{m:02}");
                for i in 0..40u32 {
                    let churned = (i + m) % 5 == 0;
                    let mut x = f64::from((i * 7 + m) % 11) + if churned { 3.0 } else { 0.0 };
                    if shifted == Some(period.as_str()) {
                        x += 0.5;
                    }
                    ids.push(format!("C{i}"));
                    ys.push(
                        (period.as_str() <= labelled_to).then_some(f64::from(u8::from(churned))),
                    );
                    xs.push(x);
                    periods.push(period.clone());
                }
            }
            let schema = Arc::new(Schema::new(vec![
                Field::new("customer_id", DataType::Utf8, false),
                Field::new("period", DataType::Utf8, false),
                Field::new("y", DataType::Float64, true),
                Field::new("x", DataType::Float64, false),
            ]));
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(StringArray::from(periods)),
                    Arc::new(Float64Array::from(ys)),
                    Arc::new(Float64Array::from(xs)),
                ],
            )
            .expect("batch");
            let table = MemTable::try_new(schema, vec![vec![batch]]).expect("table");
            let _ = ctx.deregister_table("feats");
            ctx.register_table("feats", Arc::new(table))
                .expect("register");
        }

        fn step(refit: &str) -> ChurnStep {
            let spec: ChurnSpec = serde_yaml::from_str(&format!(
                "label: y\nfeatures: {{x: \"x is {{value}}\"}}\nhorizon_months: 1\n\
                 test_periods: 1\nrefit: {refit}\n"
            ))
            .expect("spec");
            ChurnStep::from_spec(&spec).expect("step")
        }

        /// (customer, period) → the score's bits.
        async fn scores(built: Built) -> BTreeMap<(String, String), u64> {
            let schema = built.stream.schema();
            let at = |n: &str| schema.index_of(n).expect("column");
            let (c, p, s) = (at("customer_id"), at("period"), at("score"));
            let batches = datafusion::physical_plan::common::collect(built.stream)
                .await
                .expect("rows");
            let mut out = BTreeMap::new();
            for b in batches {
                let (ids, periods) = (
                    b.column(c).as_string::<i32>(),
                    b.column(p).as_string::<i32>(),
                );
                let score = b.column(s).as_primitive::<Float64Type>();
                for r in 0..b.num_rows() {
                    let key = (ids.value(r).to_string(), periods.value(r).to_string());
                    out.insert(key, score.value(r).to_bits());
                }
            }
            out
        }

        async fn build(
            ctx: &SessionContext,
            step: &ChurnStep,
            months: Option<&BTreeSet<String>>,
            last_fit: Option<&str>,
        ) -> Built {
            let rescore = months.map(|periods| Rescore { periods, last_fit });
            step.execute(ctx, "SELECT * FROM feats", "risk", "run", rescore)
                .await
                .expect("built")
        }

        fn set(v: &[&str]) -> BTreeSet<String> {
            v.iter().map(|s| s.to_string()).collect()
        }

        #[tokio::test]
        async fn the_kept_fit_scores_as_a_fit_on_the_same_rows_would() {
            let ctx = crate::engine::session();
            let on_change = step("on_change");
            register(&ctx, "2024-05", None);
            let first = build(&ctx, &on_change, None, None).await;
            let fit = first.fit.clone().expect("fitted");
            assert!(fit.contains('+'), "the fit's numbers are kept: {fit}");

            // June's features change (no outcome yet): the kept fit scores
            // June, as a fit on the new rows scores it.
            register(&ctx, "2024-05", Some("2024-06"));
            let june = set(&["2024-06"]);
            let kept = build(&ctx, &on_change, Some(&june), Some(&fit)).await;
            assert!(kept.side.is_none() && kept.periods_only, "{}", kept.summary);
            assert!(kept.summary.contains("kept fit"), "{}", kept.summary);
            assert_eq!(kept.fit.as_deref(), Some(fit.as_str()));
            let kept = scores(kept).await;
            assert_eq!(kept.len(), 40);
            let whole = scores(build(&ctx, &on_change, None, None).await).await;
            for (key, bits) in &kept {
                assert_eq!(whole.get(key), Some(bits), "{key:?}");
            }

            // April is between training and test: read by no fit.
            let april = set(&["2024-04"]);
            let b = build(&ctx, &on_change, Some(&april), Some(&fit)).await;
            assert!(b.side.is_none(), "{}", b.summary);

            // A training and a test month written again with the same rows.
            let same = set(&["2024-02", "2024-05"]);
            let b = build(&ctx, &on_change, Some(&same), Some(&fit)).await;
            assert!(b.side.is_none(), "{}", b.summary);

            // June gains its outcomes: the split moves, so it fits again.
            register(&ctx, "2024-06", Some("2024-06"));
            let b = build(&ctx, &on_change, Some(&june), Some(&fit)).await;
            assert!(b.side.is_some(), "{}", b.summary);

            // A training month changed.
            register(&ctx, "2024-05", Some("2024-02"));
            let feb = set(&["2024-02"]);
            let b = build(&ctx, &on_change, Some(&feb), Some(&fit)).await;
            assert!(b.side.is_some(), "{}", b.summary);
            assert!(!b.periods_only, "a moved fit scores every month again");

            // `refit: always` fits whatever changed; the fit is the same, so
            // it scores June only.
            register(&ctx, "2024-05", None);
            let always = step("always");
            let first = build(&ctx, &always, None, None).await;
            let fit = first.fit.clone().expect("fitted");
            let b = build(&ctx, &always, Some(&june), Some(&fit)).await;
            assert!(b.side.is_some() && b.periods_only, "{}", b.summary);
        }
    }
}
