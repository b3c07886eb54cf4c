//! Grouped bars: one group per row, one bar per value column side by side
//! (e.g. a profit band's share of RM time, the rule's share and its share of
//! profit). Bars grow from zero, up or down.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::fmt::Write;

/// `x` names each group; `ys` are the columns drawn in each, `names=` their
/// legend (default: the column names); `percent=true` draws shares (0..1)
/// as percentages. A missing or non-finite value draws no bar.
pub fn grouped_bar(
    words: &Words,
    rows: Value,
    x: String,
    ys: Vec<String>,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| ys.join(", "));
    let y_label = kw_str(&kwargs, "y_label")?.unwrap_or_default();
    let names: Vec<String> = kwargs
        .get::<Option<Vec<String>>>("names")?
        .unwrap_or_else(|| ys.clone());
    let percent = kwargs.get::<Option<bool>>("percent")?.unwrap_or(false);
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;
    let scale = if percent { 100.0 } else { 1.0 };
    let unit = if percent { "%" } else { "" };

    let mut groups: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for row in rows.try_iter()? {
        let mut vals = Vec::with_capacity(ys.len());
        for y in &ys {
            vals.push(num(&row.get_attr(y)?).map(|v| v * scale));
        }
        groups.push((text(&row.get_attr(&x)?), vals));
    }
    let all = groups.iter().flat_map(|g| g.1.iter().flatten());
    let (max, min) = all.fold((0.0f64, 0.0f64), |(hi, lo), v| (hi.max(*v), lo.min(*v)));
    let (hi, step) = nice(max);
    let lo = if min < 0.0 {
        -((-min / step).ceil() * step)
    } else {
        0.0
    };
    let name = |i: usize| names.get(i).or(ys.get(i)).map_or("", String::as_str);
    let alt = alt.unwrap_or_else(|| {
        let mut a = format!("{title}. ");
        for (g, vals) in &groups {
            let parts: Vec<String> = vals
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|v| format!("{} {}", words.label(name(i)), fmt_tick(v, unit)))
                })
                .collect();
            let _ = write!(a, "{}: {}. ", words.label(g), parts.join(", "));
        }
        if groups.is_empty() {
            a.push_str(&words.no_data);
        }
        a
    });

    let mut svg = String::new();
    open_svg(&mut svg, &title, &alt);
    let xs: Vec<String> = groups
        .iter()
        .map(|g| words.label(&g.0).to_string())
        .collect();
    axes(&mut svg, &xs, lo, hi, step, unit, &y_label);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let py = |v: f64| TOP + ph - (v - lo) / (hi - lo) * ph;
    let slot = pw / groups.len().max(1) as f64;
    let bw = slot * 0.8 / ys.len().max(1) as f64;
    for (gi, (_, vals)) in groups.iter().enumerate() {
        for (i, v) in vals.iter().enumerate() {
            let Some(v) = v else { continue };
            let bx = LEFT + gi as f64 * slot + slot * 0.1 + i as f64 * bw;
            let (top, bottom) = (py(v.max(0.0)), py(v.min(0.0)));
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{bx:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                bw - 1.0,
                bottom - top,
                PALETTE[i % PALETTE.len()]
            );
        }
    }
    if groups.is_empty() {
        no_data_note(&mut svg, words);
    }
    let legend_names: Vec<String> = (0..ys.len()).map(|i| name(i).to_string()).collect();
    legend(&mut svg, &legend_names, words);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// Plot x 64..490, y 16..220. Shares as percentages up to 100: the axis
    /// is 0..100 (nice(100)). Two groups of 213 px; two bars of 85.2 px
    /// each, starting 21.3 px into the group.
    #[test]
    fn bars_side_by_side_by_hand() {
        let data = rows(serde_json::json!([
            {"g": "top 10%", "a": 0.5, "b": 0.25},
            {"g": "<b>rest</b>", "a": 1.0, "b": null},
        ]));
        let kw = Kwargs::from_iter([
            ("title", Value::from("RM time")),
            ("percent", Value::from(true)),
            ("names", Value::from_serialize(["Time", "Profit"])),
        ]);
        let svg = grouped_bar(
            &Words::default(),
            data,
            "g".into(),
            vec!["a".into(), "b".into()],
            kw,
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        // A.a: x 64 + 21.3 = 85.3, 50% → y 220 − 102 = 118, height 102.
        assert!(
            svg.contains(r#"x="85.3" y="118.0" width="84.2" height="102.0""#),
            "{svg}"
        );
        // A.b: x 85.3 + 85.2 = 170.5, 25% → y 169, height 51.
        assert!(
            svg.contains(r#"x="170.5" y="169.0" width="84.2" height="51.0""#),
            "{svg}"
        );
        // B.a: x 64 + 213 + 21.3 = 298.3, 100% → the full height.
        assert!(
            svg.contains(r#"x="298.3" y="16.0" width="84.2" height="204.0""#),
            "{svg}"
        );
        assert_eq!(
            svg.matches(r#"class="bar""#).count(),
            3,
            "a null draws no bar"
        );
        assert!(svg.contains(">Time<") && svg.contains(">Profit<"));
        assert!(
            svg.contains(
                "RM time. top 10%: Time 50%, Profit 25%. &lt;b&gt;rest&lt;/b&gt;: Time 100%."
            ),
            "{svg}"
        );
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn negative_values_hang_below_zero() {
        let data = rows(serde_json::json!([{"g": "loss", "a": -0.5, "b": 0.5}]));
        let svg = grouped_bar(
            &Words::default(),
            data,
            "g".into(),
            vec!["a".into(), "b".into()],
            kw(&[]),
        )
        .expect("chart")
        .to_string();
        // Axis −0.5 .. 0.5 (nice(0.5) = 0.5, step 0.125): zero at y 118.
        assert!(
            svg.contains(r#"y="118.0" width="169.4" height="102.0""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"y="16.0" width="169.4" height="102.0""#),
            "{svg}"
        );
    }
}
