//! A line chart: one line per series over an x axis of categories.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A line per series over ordered x categories (e.g. months).
pub fn line_chart(
    words: &Words,
    rows: Value,
    x: String,
    y: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let series = kw_str(&kwargs, "series")?;
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| y.clone());
    let unit = kw_str(&kwargs, "unit")?.unwrap_or_default();
    let y_label = kw_str(&kwargs, "y_label")?.unwrap_or_else(|| y.clone());
    kwargs.assert_all_used()?;
    let pts = points(&rows, &x, &y, series.as_deref())?;
    let xs: Vec<String> = pts
        .iter()
        .map(|p| p.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (xv, s, yv) in &pts {
        by.entry(s.clone()).or_default().insert(xv.clone(), *yv);
    }
    let min = pts
        .iter()
        .map(|p| p.2)
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let max = pts.iter().map(|p| p.2).fold(0.0, f64::max);
    let (hi, step) = nice(max.max(-min));
    let lo = if min < 0.0 { -hi } else { 0.0 };
    let mut alt = format!("{title}. ");
    let mut svg = String::new();
    for (name, vals) in &by {
        let _ = write!(
            alt,
            "{}: {}. ",
            words.label(name),
            vals.iter()
                .map(|(k, v)| format!("{k} {}", fmt_tick(*v, &unit)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    open_svg(&mut svg, &title, &alt);
    axes(&mut svg, &xs, lo, hi, step, &unit, &y_label);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let names: Vec<String> = by.keys().cloned().collect();
    for (i, (_, vals)) in by.iter().enumerate() {
        let mut path = String::new();
        for (xi, xv) in xs.iter().enumerate() {
            if let Some(v) = vals.get(xv) {
                let cx = LEFT + (xi as f64 + 0.5) * pw / xs.len().max(1) as f64;
                let cy = TOP + ph - (v - lo) / (hi - lo) * ph;
                let _ = write!(
                    path,
                    "{}{cx:.1},{cy:.1} ",
                    if path.is_empty() { "M" } else { "L" }
                );
                let _ = write!(
                    svg,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="2.5" fill="{}"/>"#,
                    PALETTE[i % PALETTE.len()]
                );
            }
        }
        let _ = write!(
            svg,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.trim(),
            PALETTE[i % PALETTE.len()]
        );
    }
    legend(&mut svg, &names, words);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}
