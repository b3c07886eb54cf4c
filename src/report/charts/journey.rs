//! The CEM touchpoint map (seeds 000, 001): purchase stages as columns,
//! touchpoints as rows, each touchpoint's cell in its stage coloured by a
//! score, and the key moments — where the experience is made or lost —
//! outlined and starred.

use super::heatmap::{blues, hex, ink, scale_legend};
use super::*;
use minijinja::value::{Kwargs, Value};
use std::fmt::Write;

const ROW_H: f64 = 22.0;
/// Key moments: a thick vermilion outline (Okabe–Ito), readable without colour by the star.
const MOMENT: &str = "#D55E00";

struct Cell {
    stage: String,
    touchpoint: String,
    value: Option<f64>,
    moment: bool,
}

/// `journey_map(rows, "stage", "touchpoint", "csat", moment="key_moment",
/// hide="small_sample", percent=true)`: stages and touchpoints in first-seen
/// order; a row whose `hide` column is true shows "–" (too few answers);
/// `percent` draws shares (0..1) as whole percentages.
pub fn journey_map(
    words: &Words,
    rows: Value,
    stage: String,
    touchpoint: String,
    value: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| value.clone());
    let moment = kw_str(&kwargs, "moment")?;
    let hide = kw_str(&kwargs, "hide")?;
    let percent = kwargs.get::<Option<bool>>("percent")?.unwrap_or(false);
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;

    let mut cells: Vec<Cell> = Vec::new();
    for row in rows.try_iter()? {
        let flag = |col: &Option<String>| -> Result<bool, minijinja::Error> {
            Ok(match col {
                Some(c) => row.get_attr(c)?.is_true(),
                None => false,
            })
        };
        let hidden = flag(&hide)?;
        cells.push(Cell {
            stage: words.label(&text(&row.get_attr(&stage)?)).to_string(),
            touchpoint: words.label(&text(&row.get_attr(&touchpoint)?)).to_string(),
            value: if hidden {
                None
            } else {
                num(&row.get_attr(&value)?).filter(|v| v.is_finite() && v.abs() < MAX_DRAWN)
            },
            moment: flag(&moment)?,
        });
    }
    let stages = first_seen(cells.iter().map(|c| c.stage.as_str()));
    let shown: Vec<f64> = cells.iter().filter_map(|c| c.value).collect();
    let lo = shown.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = shown.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let fmtv = |v: f64| {
        if percent {
            format!("{:.0}%", v * 100.0)
        } else {
            format!("{v:.1}")
        }
    };
    let star = |c: &Cell| if c.moment { "★ " } else { "" };
    let said = |c: &Cell| c.value.map_or_else(|| words.no_data.clone(), fmtv);

    let alt = alt.unwrap_or_else(|| {
        let mut a = format!("{title}. ");
        for s in &stages {
            let parts: Vec<String> = cells
                .iter()
                .filter(|c| &c.stage == s)
                .map(|c| format!("{}{} {}", star(c), c.touchpoint, said(c)))
                .collect();
            let _ = write!(a, "{s}: {}. ", parts.join(", "));
        }
        if cells.iter().any(|c| c.moment) {
            let _ = write!(a, "★ {}.", words.key_moment);
        }
        if cells.is_empty() {
            a.push_str(&words.no_data);
        }
        a
    });

    let chars = cells
        .iter()
        .map(|c| c.touchpoint.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let left = (chars * 6.0 + 24.0).clamp(60.0, 200.0);
    let cw = (W - left - RIGHT) / stages.len().max(1) as f64;
    let head = TOP + 16.0;
    let h = (head + cells.len().max(1) as f64 * ROW_H + 12.0).max(80.0);
    let mut svg = String::new();
    open_svg_sized(&mut svg, W, h, &title, &alt);
    for (si, s) in stages.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" text-anchor="middle">{}</text>"#,
            left + (si as f64 + 0.5) * cw,
            TOP + 8.0,
            esc(s)
        );
    }
    if cells.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            W / 2.0,
            head + 20.0,
            esc(&words.no_data)
        );
    }
    for (ri, c) in cells.iter().enumerate() {
        let si = stages.iter().position(|s| s == &c.stage).unwrap_or(0);
        let y = head + ri as f64 * ROW_H;
        let x = left + si as f64 * cw;
        let (fill, fg) = match c.value {
            Some(v) => {
                let k = blues(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 });
                (hex(k), ink(k))
            }
            None => ("#FFFFFF".to_string(), "#555555"),
        };
        let (stroke, width) = if c.moment {
            (MOMENT, 3.0)
        } else {
            ("#DDDDDD", 1.0)
        };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}{}</text><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="4" fill="{fill}" stroke="{stroke}" stroke-width="{width}"><title>{}</title></rect><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="{fg}">{}{}</text>"#,
            left - 6.0,
            y + ROW_H / 2.0 + 4.0,
            star(c),
            esc(&c.touchpoint),
            x + 4.0,
            y + 2.0,
            cw - 8.0,
            ROW_H - 4.0,
            esc(&format!("{}, {}: {}", c.stage, c.touchpoint, said(c))),
            x + cw / 2.0,
            y + ROW_H / 2.0 + 4.0,
            star(c),
            esc(&c.value.map_or_else(|| "–".to_string(), fmtv))
        );
    }
    if !shown.is_empty() {
        scale_legend(
            &mut svg,
            W - RIGHT + 12.0,
            head,
            words,
            &fmtv(lo),
            &fmtv(hi),
        );
    }
    if cells.iter().any(|c| c.moment) {
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="12" rx="2" fill="none" stroke="{MOMENT}" stroke-width="3"/><text x="{}" y="{}" font-size="11">★ {}</text>"#,
            W - RIGHT + 12.0,
            head + 72.0,
            W - RIGHT + 30.0,
            head + 82.0,
            esc(&words.key_moment)
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// Two stages; width 640 − left − 150 split in two. "wealth advice"
    /// (13 characters) makes left = 13 × 6 + 24 = 102, so each stage is
    /// (640 − 102 − 150) / 2 = 194 wide: pre from 102, in from 296. Rows
    /// 22 high from y = 32. Values 0.5..0.8: 0.5 is the lightest blue,
    /// 0.8 the darkest.
    #[test]
    fn cells_sit_in_their_stage_and_moments_are_marked() {
        let data = rows(serde_json::json!([
            {"stage": "pre", "tp": "wealth advice", "v": 0.8, "key": true, "few": false},
            {"stage": "pre", "tp": "enquiry", "v": 0.5, "key": false, "few": false},
            {"stage": "in", "tp": "<b>", "v": 0.7, "key": false, "few": true},
        ]));
        let svg = journey_map(
            &Words::default(),
            data,
            "stage".into(),
            "tp".into(),
            "v".into(),
            Kwargs::from_iter([
                ("moment", Value::from("key")),
                ("hide", Value::from("few")),
                ("percent", Value::from(true)),
                ("title", Value::from("CSAT")),
            ]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        // Stage headings centred over their columns.
        assert!(
            svg.contains(
                r#"x="199.0" y="24.0" font-size="11" font-weight="bold" text-anchor="middle">pre<"#
            ),
            "{svg}"
        );
        assert!(
            svg.contains(r#"x="393.0" y="24.0""#) && svg.contains(">in<"),
            "{svg}"
        );
        // The key moment: row 0 in pre, darkest fill, outlined and starred.
        assert!(svg.contains(r##"<rect x="106.0" y="34.0" width="186.0" height="18.0" rx="4" fill="#08306B" stroke="#D55E00" stroke-width="3">"##), "{svg}");
        assert!(
            svg.contains("★ 80%") && svg.contains("★ wealth advice"),
            "{svg}"
        );
        // Row 1 in pre, lightest; row 2 in the second column, hidden: a dash.
        assert!(svg.contains(r##"<rect x="106.0" y="56.0" width="186.0" height="18.0" rx="4" fill="#F7FBFF" stroke="#DDDDDD""##), "{svg}");
        assert!(
            svg.contains(
                r##"<rect x="300.0" y="78.0" width="186.0" height="18.0" rx="4" fill="#FFFFFF""##
            ),
            "{svg}"
        );
        assert!(!svg.contains("70%") && !svg.contains("<b>"), "{svg}");
        assert!(
            svg.contains(
                "CSAT. pre: ★ wealth advice 80%, enquiry 50%. in: &lt;b&gt; no data. ★ key moment."
            ),
            "{svg}"
        );
    }

    #[test]
    fn no_rows_say_no_data() {
        let svg = journey_map(
            &Words::default(),
            rows(serde_json::json!([])),
            "s".into(),
            "t".into(),
            "v".into(),
            kw(&[]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        assert!(svg.contains(">no data<"), "{svg}");
    }
}
