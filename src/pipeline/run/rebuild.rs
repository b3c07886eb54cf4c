//! How much of a model a run rebuilds. The last finished run's manifest
//! (`_versions`) says which version of every table it left; a model whose
//! definition (the tag of its last commit) and inputs are still as that
//! run left them is not run at all. A model declared `incremental: {by:
//! period, lookback: N}` whose inputs changed only in some periods (read
//! from the Delta log: the period partitions of files added or removed)
//! rebuilds those periods and the N after each, and replaces exactly them;
//! anything else rebuilds whole.

use crate::models::{Model, PERIOD};
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

/// A model's tag: a digest of everything that decides its rows.
pub(super) fn digest(m: &Model, timezone: chrono_tz::Tz) -> String {
    short_digest(&format!("{m:?}|{timezone}"))
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
    if wh.tag(&m.name).await?.as_deref() != Some(tag) {
        return Ok(Rebuild::Whole("its definition changed".into()));
    }
    if manifest.get(&m.name) != Some(&(version as i64)) {
        return Ok(Rebuild::Whole(
            "its table changed since the last finished run".into(),
        ));
    }
    let mut changed = Changed::Nothing;
    let mut why: Vec<String> = Vec::new();
    for dep in &m.depends_on {
        let was = manifest.get(dep).copied();
        let now = wh.version(dep).await?.map(|v| v as i64);
        if now.is_some() && now == was {
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
        (Changed::Periods(p), Some(lookback)) => match after(&p, lookback) {
            Some(all) => Rebuild::Periods(all, why.join("; ")),
            None => Rebuild::Whole(format!("{} (not a YYYY-MM period)", why.join("; "))),
        },
        _ => Rebuild::Whole(why.join("; ")),
    })
}

/// The periods whose month reads any of `changed`: each and the
/// `lookback` after it; `None` if one is not a period.
fn after(changed: &BTreeSet<String>, lookback: u32) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for p in changed {
        let p: Period = p.parse().ok()?;
        for k in 0..=lookback {
            out.insert(p.forward(k).to_string());
        }
    }
    Some(out)
}

/// The periods a rebuild of `periods` reads: each and the `lookback`
/// before it.
pub(super) fn window(periods: &BTreeSet<String>, lookback: u32) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in periods {
        if let Ok(p) = p.parse::<Period>() {
            for k in 0..=lookback {
                out.insert(p.back(k).to_string());
            }
        }
    }
    out
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

    #[test]
    fn a_change_reaches_the_months_that_read_it() {
        // March changed; a month reads the two before it: March, April and
        // May are rebuilt, and they read January to May.
        let r = after(&set(&["2024-03"]), 2).expect("periods");
        assert_eq!(r, set(&["2024-03", "2024-04", "2024-05"]));
        assert_eq!(
            window(&r, 2),
            set(&["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"])
        );
        // Across a year, and without lookback.
        assert_eq!(
            after(&set(&["2024-12"]), 1).expect("periods"),
            set(&["2024-12", "2025-01"])
        );
        assert_eq!(after(&set(&["2024-12"]), 0).expect("p"), set(&["2024-12"]));
        assert_eq!(after(&set(&["snapshot"]), 1), None);
        assert_eq!(
            list(&set(&["a", "b", "c", "d", "e", "f", "g", "h"])),
            "a, b, c, d, e, f, and 2 more"
        );
    }
}
