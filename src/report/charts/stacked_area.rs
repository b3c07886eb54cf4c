//! A stacked area chart: series stacked in first-seen order over x.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::collections::HashMap;
use std::fmt::Write;

/// Stacked areas over x in first-seen order (e.g. interactions per month by
/// channel): one filled `<path>` per series, stacked in first-seen series
/// order. A missing (x, series) counts as 0, negative values as 0, repeated
/// (x, series) rows are summed.
pub fn stacked_area(
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
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;
    let pts = points(&rows, &x, &y, series.as_deref())?;
    let xs = first_seen(pts.iter().map(|p| p.0.as_str()));
    let names = first_seen(pts.iter().map(|p| p.1.as_str()));
    let xi: HashMap<&str, usize> = xs
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect();
    let si: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect();
    let mut grid = vec![vec![0.0; xs.len()]; names.len()];
    for (xv, s, v) in &pts {
        grid[si[s.as_str()]][xi[xv.as_str()]] += v.max(0.0);
    }
    let totals: Vec<f64> = (0..xs.len())
        .map(|i| grid.iter().map(|r| r[i]).sum())
        .collect();
    let (hi, step) = nice(totals.iter().cloned().fold(0.0, f64::max));
    let alt = alt.unwrap_or_else(|| {
        let mut a = format!("{title}. ");
        for (i, xv) in xs.iter().enumerate() {
            let parts: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(s, n)| format!("{} {}", words.label(n), fmt_tick(grid[s][i], &unit)))
                .collect();
            let _ = write!(
                a,
                "{xv}: {} ({}). ",
                parts.join(", "),
                Words::fill(&words.total, &[("n", &fmt_tick(totals[i], &unit))])
            );
        }
        a
    });
    let mut svg = String::new();
    open_svg(&mut svg, &title, &alt);
    axes(&mut svg, &xs, 0.0, hi, step, &unit, &y_label);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let n = xs.len();
    // x of each vertex; a single x is drawn as a band so the area stays visible
    let cxs: Vec<(f64, usize)> = if n == 1 {
        let c = LEFT + pw / 2.0;
        vec![(c - pw * 0.35, 0), (c + pw * 0.35, 0)]
    } else {
        (0..n)
            .map(|i| (LEFT + (i as f64 + 0.5) * pw / n as f64, i))
            .collect()
    };
    let yof = |v: f64| TOP + ph - v / hi * ph;
    let mut below = vec![0.0; cxs.len()];
    for (s, name) in names.iter().enumerate() {
        let top: Vec<f64> = cxs
            .iter()
            .zip(&below)
            .map(|((_, i), b)| b + grid[s][*i])
            .collect();
        let mut d = String::new();
        for (k, (cx, _)) in cxs.iter().enumerate() {
            let _ = write!(
                d,
                "{}{cx:.1},{:.1} ",
                if k == 0 { "M" } else { "L" },
                yof(top[k])
            );
        }
        for (k, (cx, _)) in cxs.iter().enumerate().rev() {
            let _ = write!(d, "L{cx:.1},{:.1} ", yof(below[k]));
        }
        d.push('Z');
        let c = PALETTE[s % PALETTE.len()];
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="{c}" fill-opacity="0.85" stroke="{c}" stroke-width="1"><title>{}</title></path>"#,
            esc(words.label(name))
        );
        below = top;
    }
    legend(&mut svg, &names, words);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn stacked_area_stacks_in_first_seen_order() {
        let data = rows(serde_json::json!([
            {"m": "Mar", "c": "A", "v": 10},
            {"m": "Mar", "c": "B", "v": 30},
            {"m": "Jan", "c": "A", "v": 20},
            {"m": "Feb", "c": "A", "v": 5},
            {"m": "Feb", "c": "B", "v": 15},
        ]));
        let svg = stacked_area(
            &Words::default(),
            data,
            "m".into(),
            "v".into(),
            kw(&[("series", "c"), ("title", "Interactions"), ("unit", "")]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        assert_eq!(svg.matches("<path ").count(), 2);
        // x in first-seen order: Mar, Jan, Feb
        let (mar, jan, feb) = (
            svg.find(">Mar<").expect("Mar label"),
            svg.find(">Jan<").expect("Jan label"),
            svg.find(">Feb<").expect("Feb label"),
        );
        assert!(mar < jan && jan < feb);
        // totals 40, 20 (B missing in Jan = 0), 20 → axis 0..50.
        // Plot 64..490 wide (3 bands of 142), y 16..220 (204 high):
        // x = 135, 277, 419; top y = 220 - total/50*204; A's top likewise.
        let last = svg.rfind("<path ").expect("a path");
        let (d, _) = attr(&svg, "d", last).expect("path d");
        let pts: Vec<(f64, f64)> = d
            .trim_end_matches('Z')
            .split_whitespace()
            .map(|p| {
                let (a, b) = p
                    .trim_start_matches(['M', 'L'])
                    .split_once(',')
                    .expect("x,y");
                (a.parse().expect("x"), b.parse().expect("y"))
            })
            .collect();
        let want = [
            (135.0, 56.8),  // Mar 10 + 30
            (277.0, 138.4), // Jan 20 + 0
            (419.0, 138.4), // Feb 5 + 15
            (419.0, 199.6), // back along A: Feb 5
            (277.0, 138.4), // Jan 20
            (135.0, 179.2), // Mar 10
        ];
        assert_eq!(pts.len(), want.len(), "{d}");
        for (got, w) in pts.iter().zip(want) {
            assert!(
                (got.0 - w.0).abs() < 0.051 && (got.1 - w.1).abs() < 0.051,
                "{d}"
            );
        }
        assert!(svg.contains("Jan: A 20, B 0 (total 20)"), "{svg}");
    }
}
