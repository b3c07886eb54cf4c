//! An importance–performance quadrant (seed 000's needs–performance chart):
//! one numbered point per row at (performance, importance), the two mean
//! lines that split the plane, each quadrant named in its corner, optional
//! interval whiskers on the importance, and a numbered key on the right.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::fmt::Write;

/// The quadrant codes, corner by corner: top left, top right, bottom
/// left, bottom right (names through the locale's labels).
const CORNERS: [&str; 4] = [
    "concentrate here",
    "keep up",
    "low priority",
    "possible overkill",
];

/// Rows without both numbers are left out. `x_line` / `y_line` name the
/// columns holding the mean lines (the first row's value); `low` / `high`
/// name an interval around `y`; `quadrant` names the column whose code the
/// text alternative groups the points by. Points are numbered in row order.
pub fn quadrant(
    words: &Words,
    rows: Value,
    x: String,
    y: String,
    label: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| y.clone());
    let x_label = kw_str(&kwargs, "x_label")?.unwrap_or_else(|| x.clone());
    let y_label = kw_str(&kwargs, "y_label")?.unwrap_or_else(|| y.clone());
    let x_line = kw_str(&kwargs, "x_line")?;
    let y_line = kw_str(&kwargs, "y_line")?;
    let low = kw_str(&kwargs, "low")?;
    let high = kw_str(&kwargs, "high")?;
    let quad = kw_str(&kwargs, "quadrant")?;
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;

    struct Point {
        name: String,
        x: f64,
        y: f64,
        band: Option<(f64, f64)>,
        quadrant: String,
    }
    let column = |row: &Value, c: &Option<String>| -> Result<Option<f64>, minijinja::Error> {
        Ok(match c {
            Some(c) => num(&row.get_attr(c)?),
            None => None,
        })
    };
    let (mut pts, mut xl, mut yl) = (Vec::new(), None, None);
    for row in rows.try_iter()? {
        let (Some(xv), Some(yv)) = (num(&row.get_attr(&x)?), num(&row.get_attr(&y)?)) else {
            continue;
        };
        xl = xl.or(column(&row, &x_line)?);
        yl = yl.or(column(&row, &y_line)?);
        let band = match (column(&row, &low)?, column(&row, &high)?) {
            (Some(l), Some(h)) => Some((l, h)),
            _ => None,
        };
        let quadrant = match &quad {
            Some(q) => text(&row.get_attr(q)?),
            None => String::new(),
        };
        pts.push(Point {
            name: text(&row.get_attr(&label)?),
            x: xv,
            y: yv,
            band,
            quadrant,
        });
    }

    // Each axis spans its points, whiskers and mean line, 10% beyond.
    let span = |vals: Vec<f64>| -> (f64, f64) {
        let (lo, hi) = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(*v), h.max(*v))
            });
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let pad = if hi > lo { (hi - lo) * 0.1 } else { 0.5 };
        (lo - pad, hi + pad)
    };
    let (xlo, xhi) = span(pts.iter().map(|p| p.x).chain(xl).collect());
    let (ylo, yhi) = span(
        pts.iter()
            .flat_map(|p| [Some(p.y), p.band.map(|b| b.0), p.band.map(|b| b.1)])
            .flatten()
            .chain(yl)
            .collect(),
    );
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |v: f64| LEFT + (v - xlo) / (xhi - xlo) * pw;
    let py = |v: f64| TOP + ph - (v - ylo) / (yhi - ylo) * ph;

    let alt = alt.unwrap_or_else(|| {
        let mut a = format!("{title}. ");
        if pts.is_empty() {
            a.push_str(&words.no_data);
        }
        for code in CORNERS {
            let names: Vec<&str> = pts
                .iter()
                .filter(|p| p.quadrant == code)
                .map(|p| words.label(&p.name))
                .collect();
            if !names.is_empty() {
                let items = names.join(&words.list_separator);
                let group = Words::fill(
                    &words.grouped,
                    &[("group", words.label(code)), ("items", &items)],
                );
                let _ = write!(a, "{group} ");
            }
        }
        a
    });

    let mut svg = String::new();
    open_svg(&mut svg, &title, &alt);
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#ddd"/>"##
    );
    for i in 0..=4 {
        let (xv, yv) = (
            xlo + (xhi - xlo) * i as f64 / 4.0,
            ylo + (yhi - ylo) * i as f64 / 4.0,
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{xv:.2}</text><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{yv:.2}</text>"#,
            px(xv),
            H - BOTTOM + 14.0,
            LEFT - 4.0,
            py(yv) + 3.0,
        );
    }
    axis_titles(&mut svg, &x_label, &y_label);
    if let Some(v) = xl {
        let _ = write!(
            svg,
            r##"<line class="mean" x1="{:.1}" x2="{:.1}" y1="{TOP}" y2="{}" stroke="#999" stroke-dasharray="4 3"/>"##,
            px(v),
            px(v),
            TOP + ph
        );
    }
    if let Some(v) = yl {
        let _ = write!(
            svg,
            r##"<line class="mean" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
            LEFT + pw,
            py(v),
            py(v)
        );
    }
    let corners = [
        (LEFT + 4.0, TOP + 12.0, "start"),
        (LEFT + pw - 4.0, TOP + 12.0, "end"),
        (LEFT + 4.0, TOP + ph - 6.0, "start"),
        (LEFT + pw - 4.0, TOP + ph - 6.0, "end"),
    ];
    for (code, (cx, cy, anchor)) in CORNERS.iter().zip(corners) {
        let _ = write!(
            svg,
            r##"<text class="corner" x="{cx:.1}" y="{cy:.1}" font-size="10" fill="#666" text-anchor="{anchor}">{}</text>"##,
            esc(words.label(code))
        );
    }
    if pts.is_empty() {
        no_data_note(&mut svg, words);
    }
    // The point to act on stands out; the rest share one colour.
    let keyed = ((ph + BOTTOM - 10.0) / 11.0) as usize;
    for (i, p) in pts.iter().enumerate() {
        let colour = if p.quadrant == CORNERS[0] {
            PALETTE[3]
        } else {
            PALETTE[0]
        };
        let (cx, cy) = (px(p.x), py(p.y));
        if let Some((l, h)) = p.band {
            let _ = write!(
                svg,
                r#"<line class="interval" x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-opacity="0.5"/>"#,
                py(l),
                py(h)
            );
        }
        let _ = write!(
            svg,
            r#"<circle class="point" cx="{cx:.1}" cy="{cy:.1}" r="4" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="9">{}</text>"#,
            cx + 5.0,
            cy - 4.0,
            i + 1
        );
        if i < keyed {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{:.1}" font-size="10">{} {}</text>"#,
                W - RIGHT + 10.0,
                TOP + 8.0 + 11.0 * i as f64,
                i + 1,
                esc(words.label(&p.name))
            );
        }
    }
    if pts.len() > keyed {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" font-size="10">…</text>"#,
            W - RIGHT + 10.0,
            TOP + 8.0 + 11.0 * keyed as f64
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// The plot spans x 64..490 and y 16..220. Performance 3 .. 4 (mean
    /// 3.5) padded by 10% is 2.9 .. 4.1; importance 0.1 .. 0.7 (whiskers
    /// included, mean 0.4) padded is 0.04 .. 0.76.
    #[test]
    fn points_lines_and_whiskers_by_hand() {
        let data = rows(serde_json::json!([
            {"t": "wealth advice", "p": 4.0, "i": 0.6, "lo": 0.5, "hi": 0.7, "mp": 3.5, "mi": 0.4, "q": "keep up"},
            {"t": "<b>atm</b>", "p": 3.0, "i": 0.2, "lo": 0.1, "hi": 0.3, "mp": 3.5, "mi": 0.4, "q": "concentrate here"},
            {"t": "no number", "p": null, "i": 0.9, "mp": 3.5, "mi": 0.4, "q": "keep up"},
        ]));
        let svg = quadrant(
            &Words::default(),
            data,
            "p".into(),
            "i".into(),
            "t".into(),
            kw(&[
                ("x_line", "mp"),
                ("y_line", "mi"),
                ("low", "lo"),
                ("high", "hi"),
                ("quadrant", "q"),
                ("title", "What to fix"),
            ]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        // x: 64 + 1.1 / 1.2 × 426 = 454.5; 3.0 → 99.5; mean 3.5 → 277.0.
        // y: 220 − 0.56 / 0.72 × 204 = 61.3; 0.2 → 174.7; mean 0.4 → 118.0;
        // whisker 0.5 → 89.7, 0.7 → 33.0.
        assert!(svg.contains(r#"cx="454.5" cy="61.3""#), "{svg}");
        assert!(svg.contains(r#"cx="99.5" cy="174.7""#), "{svg}");
        assert!(
            svg.contains(r#"x1="277.0" x2="277.0" y1="16" y2="220""#),
            "{svg}"
        );
        assert!(svg.contains(r#"y1="118.0" y2="118.0""#), "{svg}");
        assert!(
            svg.contains(r#"x1="454.5" x2="454.5" y1="89.7" y2="33.0""#),
            "{svg}"
        );
        // Two points, numbered and keyed; the one to act on in vermillion.
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">1 wealth advice<") && svg.contains(">2 &lt;b&gt;atm&lt;/b&gt;<"));
        assert!(
            svg.contains(r##"cy="174.7" r="4" fill="#D55E00""##),
            "{svg}"
        );
        assert!(!svg.contains("<b>"));
        for corner in CORNERS {
            assert!(svg.contains(&format!(">{corner}<")), "{corner}");
        }
        assert!(
            svg.contains(
                "What to fix. concentrate here: &lt;b&gt;atm&lt;/b&gt;. keep up: wealth advice."
            ),
            "{svg}"
        );
    }

    #[test]
    fn no_rows_say_no_data() {
        let svg = quadrant(
            &Words::default(),
            rows(serde_json::json!([])),
            "x".into(),
            "y".into(),
            "t".into(),
            kw(&[]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        assert!(svg.contains(">no data<"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 0);
    }
}
