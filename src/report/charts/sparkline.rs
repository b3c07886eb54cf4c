//! A sparkline: a tiny unlabelled line for a KPI tile.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::fmt::Write;

const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 28.0;
const SPARK_PAD: f64 = 3.0;

/// A word-sized trend line (about 120×28, no axes) of y in row order, with a
/// dot at the last point; rows with a null y are skipped.
pub fn sparkline(
    words: &Words,
    rows: Value,
    x: String,
    y: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;
    let pts = points(&rows, &x, &y, None)?;
    let n = pts.len();
    let alt = alt.unwrap_or_else(|| match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => Words::fill(
            if n == 1 {
                &words.trend_one
            } else {
                &words.trend
            },
            &[
                ("from", &format!("{:.1}", a.2)),
                ("to", &format!("{:.1}", b.2)),
                ("n", &n.to_string()),
            ],
        ),
        _ => words.no_data.clone(),
    });
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="sparkline" width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(&alt),
        esc(&alt)
    );
    if let (Some(a), Some(b)) = (pts.first(), pts.last()) {
        let span = Words::fill(&words.span, &[("from", &a.0), ("to", &b.0)]);
        let _ = write!(svg, "<desc>{}</desc>", esc(&span));
        let lo = pts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
        let hi = pts.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
        let px = |i: usize| {
            if n == 1 {
                SPARK_W / 2.0
            } else {
                SPARK_PAD + i as f64 * (SPARK_W - 2.0 * SPARK_PAD) / (n - 1) as f64
            }
        };
        let py = |v: f64| {
            if hi > lo {
                SPARK_H - SPARK_PAD - (v - lo) / (hi - lo) * (SPARK_H - 2.0 * SPARK_PAD)
            } else {
                SPARK_H / 2.0
            }
        };
        let coords: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", px(i), py(p.2)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/><circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{}"/>"#,
            coords.join(" "),
            PALETTE[0],
            px(n - 1),
            py(b.2),
            PALETTE[3]
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn sparkline_points_and_label() {
        let vals = [
            12.0, 13.0, 11.0, 14.0, 12.5, 13.5, 14.5, 13.0, 15.0, 14.0, 16.0, 15.5,
        ];
        let data = rows(serde_json::Value::Array(
            vals.iter()
                .enumerate()
                .map(|(i, v)| serde_json::json!({"p": format!("2024-{:02}", i + 1), "v": v}))
                .collect(),
        ));
        let svg = sparkline(&Words::default(), data, "p".into(), "v".into(), kw(&[]))
            .expect("chart")
            .to_string();
        accessible(&svg);
        assert!(svg.contains(r#"aria-label="trend from 12.0 to 15.5 over 12 periods""#));
        assert!(svg.contains(r#"viewBox="0 0 120 28""#));
        let (p, _) = attr(&svg, "points", 0).expect("points");
        let pts: Vec<&str> = p.split_whitespace().collect();
        assert_eq!(pts.len(), 12);
        // range 11..16 over y 3..25: first 12 → 25 - 1/5*22 = 20.6
        assert_eq!(pts[0], "3.0,20.6");
        // last 15.5 → 25 - 4.5/5*22 = 5.2, at x 117, with the dot there
        assert_eq!(pts[11], "117.0,5.2");
        assert!(svg.contains(r#"<circle cx="117.0" cy="5.2""#));
    }
}
