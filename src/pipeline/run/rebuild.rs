//! How much of a model a run rebuilds. The last finished run's manifest
//! (`_versions`) says which version of every table it left; a model whose
//! definition (the tag of its last commit) and inputs are still as that
//! run left them is not run at all. A model declared `incremental: {by:
//! period, lookback: N, lookahead: M}` whose inputs changed only in some
//! periods (read from the Delta log: the period partitions of files added
//! or removed) rebuilds the months whose window holds a change — each
//! changed month, the N after it and the M before it, none after the last
//! month of data — and replaces exactly them; anything else rebuilds whole.
//! A step's tag also carries the digest of its fit (`definition+fit`).

use crate::models::{Model, PERIOD, Reach};
use crate::period::Period;
use crate::pipeline::Result;
use crate::warehouse::Warehouse;
use crate::warehouse::changes::{self, Changed};
use crate::warehouse::versions::Manifest;
use std::collections::BTreeSet;

/// What a run does with one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rebuild {
    /// Its definition and inputs are as the last finished run left them.
    Skip,
    /// Build it whole, and why.
    Whole(String),
    /// Rebuild these periods only, and why.
    Periods(BTreeSet<String>, String),
}

/// A model's tag: a digest of everything that decides its rows, and of
/// nothing else. Not where its SQL file lies (a project moved, restored or
/// checked out in another folder would rebuild every model) nor its
/// description.
pub(super) fn digest(m: &Model, timezone: chrono_tz::Tz) -> String {
    let Model {
        name: _,
        sql_file: _,
        description: _,
        sql,
        depends_on,
        kind,
        personal,
        by_period,
    } = m;
    short_digest(&format!(
        "{sql:?}|{depends_on:?}|{kind:?}|{personal:?}|{by_period:?}|{timezone}"
    ))
}

/// A step's commit tag: its definition's digest and, after `+`, the fit
/// that scored the rows: its digest (a churn step's also its numbers,
/// after another `+`: `models::churn`'s kept fit).
pub(super) fn with_fit(tag: &str, fit: Option<&str>) -> String {
    match fit {
        Some(f) => format!("{tag}+{f}"),
        None => tag.to_string(),
    }
}

/// The definition part of a commit tag.
fn definition_of(tag: &str) -> &str {
    tag.split_once('+').map_or(tag, |(d, _)| d)
}

/// The fit part of a step's commit tag.
pub(super) fn fit_of(tag: &str) -> Option<&str> {
    tag.split_once('+').map(|(_, f)| f)
}

/// A commit tag for `text` (a seed's or a model's definition).
pub(super) fn short_digest(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
}

/// Decide what to do with `m` (tagged `tag`), given the last finished
/// run's `manifest`.
pub(super) async fn decide(
    wh: &Warehouse,
    m: &Model,
    tag: &str,
    manifest: Option<&Manifest>,
    full_refresh: bool,
) -> Result<Rebuild> {
    if full_refresh {
        return Ok(Rebuild::Whole("full refresh".into()));
    }
    let (Some(manifest), Some(version)) = (manifest, wh.version(&m.name).await?) else {
        return Ok(Rebuild::Whole("first build".into()));
    };
    if wh.tag(&m.name).await?.as_deref().map(definition_of) != Some(tag) {
        return Ok(Rebuild::Whole("its definition changed".into()));
    }
    if manifest.get(&m.name) != Some(&(version as i64))
        && !changes::same_rows(wh, &m.name, manifest.get(&m.name).copied()).await?
    {
        return Ok(Rebuild::Whole(
            "its table changed since the last finished run".into(),
        ));
    }
    let mut changed = Changed::Nothing;
    let mut why: Vec<String> = Vec::new();
    for dep in &m.depends_on {
        let was = manifest.get(dep).copied();
        let now = wh.version(dep).await?.map(|v| v as i64);
        if now.is_some() && (now == was || changes::same_rows(wh, dep, was).await?) {
            continue;
        }
        let c = match m.by_period {
            Some(_) => changes::since(wh, dep, PERIOD, was).await?,
            None => Changed::All,
        };
        why.push(match &c {
            Changed::Periods(p) => format!("`{dep}` changed in {}", list(p)),
            _ => format!("`{dep}` changed"),
        });
        changed = changed.and(c);
    }
    Ok(match (changed, m.by_period) {
        (Changed::Nothing, _) => Rebuild::Skip,
        (Changed::Periods(p), Some(reach)) => match affected(&p, reach) {
            Some(mut all) => {
                // Months after every month of the model and its inputs
                // would be rebuilt empty: leave them out.
                let mut last = changes::latest(wh, &m.name, PERIOD).await?;
                for dep in &m.depends_on {
                    last = last.max(changes::latest(wh, dep, PERIOD).await?);
                }
                if let Some(last) = last {
                    all.retain(|p| *p <= last);
                }
                if all.is_empty() {
                    Rebuild::Skip
                } else {
                    Rebuild::Periods(all, why.join("; "))
                }
            }
            None => Rebuild::Whole(format!("{} (not a YYYY-MM period)", why.join("; "))),
        },
        _ => Rebuild::Whole(why.join("; ")),
    })
}

/// The periods whose month reads any of `changed`: each, the `lookback`
/// after it and the `lookahead` before it; `None` if one is not a period.
pub(super) fn affected(changed: &BTreeSet<String>, reach: Reach) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for p in changed {
        let p: Period = p.parse().ok()?;
        out.extend(span(p, reach.lookahead, reach.lookback));
    }
    Some(out)
}

/// The periods a rebuild of `periods` reads: each, the `lookback` before
/// it and the `lookahead` after it.
pub(super) fn window(periods: &BTreeSet<String>, reach: Reach) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in periods {
        if let Ok(p) = p.parse::<Period>() {
            out.extend(span(p, reach.lookback, reach.lookahead));
        }
    }
    out
}

/// `p` with the `before` months before it and the `after` months after it.
fn span(p: Period, before: u32, after: u32) -> impl Iterator<Item = String> {
    (1..=before)
        .map(move |k| p.back(k))
        .chain((0..=after).map(move |k| p.forward(k)))
        .map(|q| q.to_string())
}

/// `2024-01, 2024-02` (the first 6, then how many more).
pub(super) fn list(p: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = p.iter().take(6).map(String::as_str).collect();
    match p.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The tag follows what decides the rows: the same model read from
    /// another folder, or described otherwise, keeps its tag; its SQL,
    /// its months or the time zone change it.
    #[test]
    fn the_tag_ignores_where_the_sql_lies_and_the_description() {
        let m = Model {
            name: "kpi".into(),
            sql_file: "/srv/a/queries/kpi.sql".into(),
            sql: "SELECT period, COUNT(*) AS n FROM t GROUP BY period".into(),
            description: Some("KPIs".into()),
            depends_on: vec!["t".into()],
            kind: crate::models::Kind::Sql,
            personal: Vec::new(),
            by_period: Some(Reach {
                lookback: 0,
                lookahead: 0,
            }),
        };
        let hk = chrono_tz::Asia::Hong_Kong;
        let tag = digest(&m, hk);
        let moved = Model {
            sql_file: "/home/b/project/queries/kpi.sql".into(),
            description: Some("Monthly KPIs".into()),
            ..m.clone()
        };
        assert_eq!(digest(&moved, hk), tag);
        let edited = Model {
            sql: m.sql.replace("COUNT(*)", "COUNT(1)"),
            ..m.clone()
        };
        assert_ne!(digest(&edited, hk), tag);
        let whole = Model {
            by_period: None,
            ..m.clone()
        };
        assert_ne!(digest(&whole, hk), tag);
        assert_ne!(digest(&m, chrono_tz::UTC), tag);
    }

    #[test]
    fn a_change_reaches_the_months_that_read_it() {
        let back = |n| Reach {
            lookback: n,
            lookahead: 0,
        };
        // March changed; a month reads the two before it: March, April and
        // May are rebuilt, and they read January to May.
        let r = affected(&set(&["2024-03"]), back(2)).expect("periods");
        assert_eq!(r, set(&["2024-03", "2024-04", "2024-05"]));
        assert_eq!(
            window(&r, back(2)),
            set(&["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"])
        );
        // Across a year, and without lookback.
        assert_eq!(
            affected(&set(&["2024-12"]), back(1)).expect("periods"),
            set(&["2024-12", "2025-01"])
        );
        assert_eq!(
            affected(&set(&["2024-12"]), back(0)).expect("p"),
            set(&["2024-12"])
        );
        assert_eq!(affected(&set(&["snapshot"]), back(1)), None);
        // A month reads the month before and the two after (an outcome):
        // a change in January 2025 reaches November to February, and
        // those read October to April.
        let both = Reach {
            lookback: 1,
            lookahead: 2,
        };
        let r = affected(&set(&["2025-01"]), both).expect("periods");
        assert_eq!(r, set(&["2024-11", "2024-12", "2025-01", "2025-02"]));
        assert_eq!(
            window(&r, both),
            set(&[
                "2024-10", "2024-11", "2024-12", "2025-01", "2025-02", "2025-03", "2025-04"
            ])
        );
        assert_eq!(
            list(&set(&["a", "b", "c", "d", "e", "f", "g", "h"])),
            "a, b, c, d, e, f, and 2 more"
        );
    }
}
