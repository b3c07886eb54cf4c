//! A stacked bar chart: one bar per x category, segments per series.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Stacked bars: one bar per x, one segment per series (e.g. channel share).
pub fn stacked_bar(
    words: &Words,
    rows: Value,
    x: String,
    y: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let series = kw_str(&kwargs, "series")?.ok_or_else(|| {
        minijinja::Error::new(
            minijinja::ErrorKind::MissingArgument,
            "stacked_bar needs series=",
        )
    })?;
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| y.clone());
    let unit = kw_str(&kwargs, "unit")?.unwrap_or_default();
    let y_label = kw_str(&kwargs, "y_label")?.unwrap_or_else(|| y.clone());
    kwargs.assert_all_used()?;
    let pts = points(&rows, &x, &y, Some(&series))?;
    let xs: Vec<String> = pts
        .iter()
        .map(|p| p.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let names: Vec<String> = pts
        .iter()
        .map(|p| p.1.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for (xv, _, v) in &pts {
        *totals.entry(xv.as_str()).or_default() += v.max(0.0);
    }
    let (hi, step) = nice(totals.values().cloned().fold(0.0, f64::max));
    let mut alt = format!("{title}. ");
    for xv in &xs {
        let parts: Vec<String> = pts
            .iter()
            .filter(|p| &p.0 == xv)
            .map(|p| format!("{} {}", words.label(&p.1), fmt_tick(p.2, &unit)))
            .collect();
        let _ = write!(alt, "{xv}: {}. ", parts.join(", "));
    }
    let mut svg = String::new();
    open_svg(&mut svg, &title, &alt);
    axes(&mut svg, &xs, 0.0, hi, step, &unit, &y_label);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let bw = pw / xs.len().max(1) as f64 * 0.7;
    for (xi, xv) in xs.iter().enumerate() {
        let mut acc = 0.0;
        for (si, s) in names.iter().enumerate() {
            let v: f64 = pts
                .iter()
                .filter(|p| &p.0 == xv && &p.1 == s)
                .map(|p| p.2.max(0.0))
                .sum();
            if v <= 0.0 {
                continue;
            }
            let x0 = LEFT + (xi as f64 + 0.15) * pw / xs.len() as f64;
            let y1 = TOP + ph - (acc + v) / hi * ph;
            let h = v / hi * ph;
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{y1:.1}" width="{bw:.1}" height="{h:.1}" fill="{}"><title>{}</title></rect>"#,
                PALETTE[si % PALETTE.len()],
                esc(&format!("{xv} {}: {}", words.label(s), fmt_tick(v, &unit)))
            );
            acc += v;
        }
    }
    legend(&mut svg, &names, words);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}
