//! A Pareto (Lorenz) curve: the cumulative share of a total against the
//! cumulative share of the population ranked from the largest contributor
//! down, with the line of equal shares and labelled marks (top 10%, 20%).

use super::*;
use minijinja::value::{Kwargs, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One curve per series through (0, 0) and its rows' (x, y), both shares
/// (0..1, drawn as percentages). `y` may pass 1: with loss-making members
/// the top earners bring more than the whole. `marks` (default 0.1, 0.2)
/// label each series' point nearest those x shares.
pub fn pareto_curve(
    words: &Words,
    rows: Value,
    x: String,
    y: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let series = kw_str(&kwargs, "series")?;
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| y.clone());
    let x_label = kw_str(&kwargs, "x_label")?.unwrap_or_else(|| x.clone());
    let y_label = kw_str(&kwargs, "y_label")?.unwrap_or_else(|| y.clone());
    let alt = kw_str(&kwargs, "alt")?;
    let marks: Vec<f64> = kwargs
        .get::<Option<Vec<f64>>>("marks")?
        .unwrap_or_else(|| vec![0.1, 0.2]);
    kwargs.assert_all_used()?;

    // Series in first-seen order, each curve sorted by x.
    let mut order: Vec<String> = Vec::new();
    let mut curves: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in rows.try_iter()? {
        let s = match &series {
            Some(s) => text(&row.get_attr(s)?),
            None => y.clone(),
        };
        let (Some(xv), Some(yv)) = (num(&row.get_attr(&x)?), num(&row.get_attr(&y)?)) else {
            continue;
        };
        if !order.contains(&s) {
            order.push(s.clone());
        }
        curves.entry(s).or_default().push((xv.clamp(0.0, 1.0), yv));
    }
    for c in curves.values_mut() {
        c.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    // Percent scale: at least 0..100 %, further where the curve goes.
    let ys = curves.values().flatten().map(|p| p.1 * 100.0);
    let (max, min) = ys.fold((100.0f64, 0.0f64), |(hi, lo), v| (hi.max(v), lo.min(v)));
    let (hi, step) = nice(max);
    let lo = if min < 0.0 {
        -((-min / step).ceil() * step)
    } else {
        0.0
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |xv: f64| LEFT + xv * pw;
    let py = |yv: f64| TOP + ph - (yv * 100.0 - lo) / (hi - lo) * ph;

    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let mark_points = |c: &[(f64, f64)]| -> Vec<(f64, f64, f64)> {
        marks
            .iter()
            .filter_map(|m| {
                c.iter()
                    .min_by(|a, b| (a.0 - m).abs().total_cmp(&(b.0 - m).abs()))
                    .map(|p| (*m, p.0, p.1))
            })
            .collect()
    };
    let alt = alt.unwrap_or_else(|| {
        let mut a = format!("{title}. ");
        for name in &order {
            let c = &curves[name];
            let said: Vec<String> = mark_points(c)
                .iter()
                .map(|(m, _, yv)| {
                    Words::fill(&words.top_share, &[("x", &pct(*m)), ("y", &pct(*yv))])
                })
                .collect();
            let _ = write!(a, "{}: {}. ", words.label(name), said.join(", "));
        }
        if order.is_empty() {
            a.push_str(&words.no_data);
        }
        a
    });

    let mut svg = String::new();
    open_svg(&mut svg, &title, &alt);
    let ticks = ((hi - lo) / step).round().clamp(0.0, 20.0) as usize;
    for i in 0..=ticks {
        let t = lo + i as f64 * step;
        let ty = py(t / 100.0);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            ty + 3.0,
            esc(&format!("{t:.0}%"))
        );
    }
    for i in 0..=5 {
        let xv = i as f64 / 5.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            px(xv),
            H - BOTTOM + 14.0,
            pct(xv)
        );
    }
    axis_titles(&mut svg, &x_label, &y_label);
    // The line of equal shares: every member bringing the same. Its label
    // sits under the line, where a ranked curve (never below it) cannot be.
    let _ = write!(
        svg,
        r##"<line class="equal" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#666">{}</text>"##,
        px(0.0),
        py(0.0),
        px(1.0),
        py(1.0),
        px(0.75) + 4.0,
        py(0.75) + 14.0,
        esc(&words.equal_share)
    );
    if order.is_empty() {
        no_data_note(&mut svg, words);
    }
    for (i, name) in order.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let c = &curves[name];
        let mut d = format!("M{:.1},{:.1}", px(0.0), py(0.0));
        for (xv, yv) in c {
            let _ = write!(d, " L{:.1},{:.1}", px(*xv), py(*yv));
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        // Marks on the first curve only: one set of labels stays legible.
        if i == 0 {
            for (m, xv, yv) in mark_points(c) {
                let label = Words::fill(&words.top_share, &[("x", &pct(m)), ("y", &pct(yv))]);
                let _ = write!(
                    svg,
                    r#"<circle class="mark" cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                    px(xv),
                    py(yv),
                    px(xv) + 6.0,
                    py(yv) + 12.0,
                    esc(&label)
                );
            }
        }
    }
    legend(&mut svg, &order, words);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// The plot spans x 64..490 and y 16..220 (W 640, H 260, margins 64 /
    /// 150 / 16 / 40). Shares up to 125% make a 0..200% axis (nice(125) =
    /// 200, step 50), so 100% sits at y = 220 - 204 / 2 = 118.
    #[test]
    fn curve_coordinates_marks_and_equal_line_by_hand() {
        let data = rows(serde_json::json!([
            {"s": "All", "x": 0.5, "y": 1.25},
            {"s": "All", "x": 0.1, "y": 0.6},
            {"s": "All", "x": 1.0, "y": 1.0},
            {"s": "All", "x": 0.2, "y": 0.8},
            {"s": "<b>", "x": 1.0, "y": null},
        ]));
        let svg = pareto_curve(
            &Words::default(),
            data,
            "x".into(),
            "y".into(),
            kw(&[("series", "s"), ("title", "Profit")]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        // x: 64 + 0.1 × 426 = 106.6; y: 220 - 60 / 200 × 204 = 158.8.
        // 0.2 → 149.2, 80% → 138.4; 0.5 → 277.0, 125% → 92.5; 1 → 490, 100% → 118.
        let (d, _) = attr(&svg, "d", 0).expect("path");
        assert_eq!(
            d,
            "M64.0,220.0 L106.6,158.8 L149.2,138.4 L277.0,92.5 L490.0,118.0"
        );
        // Equal shares: (0, 0) to (100%, 100%).
        assert!(
            svg.contains(r#"x1="64.0" y1="220.0" x2="490.0" y2="118.0""#),
            "{svg}"
        );
        assert!(svg.contains(r#"cx="106.6" cy="158.8""#) && svg.contains("top 10%: 60%"));
        assert!(svg.contains(r#"cx="149.2" cy="138.4""#) && svg.contains("top 20%: 80%"));
        assert!(svg.contains(">200%<") && svg.contains(">150%<") && svg.contains(">0%<"));
        assert!(
            svg.contains("Profit. All: top 10%: 60%, top 20%: 80%."),
            "{svg}"
        );
        // A series without a number draws nothing and escapes nothing raw.
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn no_rows_say_no_data() {
        let svg = pareto_curve(
            &Words::default(),
            rows(serde_json::json!([])),
            "x".into(),
            "y".into(),
            kw(&[]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        assert!(svg.contains(">no data<"), "{svg}");
    }
}
