//! A heatmap: a grid of cells coloured on a sequential blue scale, with
//! a min/max legend and a dash for missing cells.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::collections::HashMap;
use std::fmt::Write;

/// ColorBrewer "Blues": a colour-blind-safe sequential single-hue scale.
const BLUES: [(u8, u8, u8); 9] = [
    (0xF7, 0xFB, 0xFF),
    (0xDE, 0xEB, 0xF7),
    (0xC6, 0xDB, 0xEF),
    (0x9E, 0xCA, 0xE1),
    (0x6B, 0xAE, 0xD6),
    (0x42, 0x92, 0xC6),
    (0x21, 0x71, 0xB5),
    (0x08, 0x51, 0x9C),
    (0x08, 0x30, 0x6B),
];

/// Colour at `t` in 0..=1 (light to dark), interpolated between the stops.
pub(super) fn blues(t: f64) -> (u8, u8, u8) {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

pub(super) fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// Black or white, whichever contrasts more with the fill (WCAG luminance).
pub(super) fn ink((r, g, b): (u8, u8, u8)) -> &'static str {
    let lin = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    if l < 0.179 { "#FFFFFF" } else { "#000000" }
}

const CELL_H: f64 = 24.0;

/// The scale's legend at (`x`, `y`): five steps from light to dark, the
/// lowest and highest values written beside the ends.
pub(super) fn scale_legend(svg: &mut String, x: f64, y: f64, words: &Words, lo: &str, hi: &str) {
    for k in 0..5 {
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/>"#,
            y + 12.0 * k as f64,
            hex(blues(k as f64 / 4.0))
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" font-size="11">{} {}</text><text x="{}" y="{}" font-size="11">{} {}</text>"#,
        x + 18.0,
        y + 10.0,
        esc(&words.min),
        esc(lo),
        x + 18.0,
        y + 58.0,
        esc(&words.max),
        esc(hi)
    );
}

/// A heatmap: x columns and y rows in first-seen order, each cell coloured on
/// a light-to-dark blue scale from the minimum to the maximum and showing its
/// value (`digits` decimals; default 0 for whole numbers, else 1). A missing
/// or null cell is blank with "–"; a repeated (x, y) keeps the last value.
pub fn heatmap(
    words: &Words,
    rows: Value,
    x: String,
    y: String,
    value: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| value.clone());
    let unit = kw_str(&kwargs, "unit")?.unwrap_or_default();
    let digits = kwargs.get::<Option<usize>>("digits")?;
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;
    let mut cells = Vec::new();
    for row in rows.try_iter()? {
        cells.push((
            words.label(&text(&row.get_attr(&x)?)).to_string(),
            words.label(&text(&row.get_attr(&y)?)).to_string(),
            num(&row.get_attr(&value)?),
        ));
    }
    let xs = first_seen(cells.iter().map(|c| c.0.as_str()));
    let ys = first_seen(cells.iter().map(|c| c.1.as_str()));
    let mut grid: HashMap<(&str, &str), f64> = HashMap::new();
    for (xv, yv, v) in &cells {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            grid.insert((xv.as_str(), yv.as_str()), v);
        }
    }
    let lo = grid.values().cloned().fold(f64::INFINITY, f64::min);
    let hi = grid.values().cloned().fold(f64::NEG_INFINITY, f64::max);
    let digits = digits.unwrap_or(if grid.values().all(|v| v.fract() == 0.0) {
        0
    } else {
        1
    });
    let fmtv = |v: f64| format!("{v:.digits$}{unit}");
    let scale = |v: f64| blues(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 });
    let alt = alt.unwrap_or_else(|| {
        let mut a = format!("{title}. ");
        for yv in &ys {
            let parts: Vec<String> = xs
                .iter()
                .map(|xv| match grid.get(&(xv.as_str(), yv.as_str())) {
                    Some(v) => format!("{xv} {}", fmtv(*v)),
                    None => format!("{xv} {}", words.no_data),
                })
                .collect();
            let _ = write!(a, "{yv}: {}. ", parts.join(", "));
        }
        if !grid.is_empty() {
            let range = Words::fill(&words.range, &[("lo", &fmtv(lo)), ("hi", &fmtv(hi))]);
            a.push_str(&range);
        }
        a
    });
    let chars = |v: &[String]| v.iter().map(|s| s.chars().count()).max().unwrap_or(0) as f64;
    let left = (chars(&ys) * 6.0 + 14.0).clamp(48.0, 180.0);
    let cw = (W - left - RIGHT) / xs.len().max(1) as f64;
    let rotate = chars(&xs) * 6.0 > cw;
    let bottom = if rotate {
        (chars(&xs) * 4.5 + 18.0).min(120.0)
    } else {
        24.0
    };
    let gh = ys.len() as f64 * CELL_H;
    let h = (TOP + gh + bottom).max(TOP + 110.0);
    let mut svg = String::new();
    open_svg_sized(&mut svg, W, h, &title, &alt);
    for (yi, yv) in ys.iter().enumerate() {
        let ry = TOP + yi as f64 * CELL_H;
        let ty = ry + CELL_H / 2.0 + 4.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{ty:.1}" font-size="11" text-anchor="end">{}</text>"#,
            left - 6.0,
            esc(yv)
        );
        for (xi, xv) in xs.iter().enumerate() {
            let rx = left + xi as f64 * cw;
            let tx = rx + cw / 2.0;
            let (fill, stroke, fg, shown, tip) = match grid.get(&(xv.as_str(), yv.as_str())) {
                Some(v) => {
                    let c = scale(*v);
                    (hex(c), "#FFFFFF", ink(c), fmtv(*v), fmtv(*v))
                }
                None => (
                    "#FFFFFF".to_string(),
                    "#DDDDDD",
                    "#555555",
                    "–".to_string(),
                    words.no_data.clone(),
                ),
            };
            let _ = write!(
                svg,
                r#"<rect x="{rx:.1}" y="{ry:.1}" width="{cw:.1}" height="{CELL_H}" fill="{fill}" stroke="{stroke}"><title>{}</title></rect><text x="{tx:.1}" y="{ty:.1}" font-size="10" text-anchor="middle" fill="{fg}">{}</text>"#,
                esc(&format!("{xv}, {yv}: {tip}")),
                esc(&shown)
            );
        }
    }
    for (xi, xv) in xs.iter().enumerate() {
        let tx = left + (xi as f64 + 0.5) * cw;
        let ty = TOP + gh + 14.0;
        if rotate {
            let _ = write!(
                svg,
                r#"<text x="{tx:.1}" y="{ty:.1}" font-size="10" text-anchor="end" transform="rotate(-45 {tx:.1} {ty:.1})">{}</text>"#,
                esc(xv)
            );
        } else {
            let _ = write!(
                svg,
                r#"<text x="{tx:.1}" y="{ty:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                esc(xv)
            );
        }
    }
    // legend: five steps of the scale, min and max labelled, and "no data"
    let lx = W - RIGHT + 10.0;
    if !grid.is_empty() {
        scale_legend(&mut svg, lx, TOP, words, &fmtv(lo), &fmtv(hi));
    }
    if grid.len() < xs.len() * ys.len() {
        let ly = TOP + 72.0;
        let _ = write!(
            svg,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="#FFFFFF" stroke="#DDDDDD"/><text x="{}" y="{}" font-size="11">– {}</text>"##,
            lx + 18.0,
            ly + 10.0,
            esc(&words.no_data)
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// Fill and text colour of the cell whose tooltip is `tip`.
    fn cell(svg: &str, tip: &str) -> (String, String) {
        let t = svg.find(&format!("<title>{tip}</title>")).expect(tip);
        let r = svg[..t].rfind("<rect").expect("cell rect");
        let (fill, _) = attr(svg, "fill", r).expect("cell fill");
        let (ink, _) = attr(svg, "fill", t).expect("text fill");
        (fill, ink)
    }

    #[test]
    fn heatmap_scale_missing_and_escaping() {
        let data = rows(serde_json::json!([
            {"x": "a", "y": "r1", "v": 1},
            {"x": "b", "y": "r1", "v": 5},
            {"x": "<script>", "y": "r1", "v": 3},
            {"x": "a", "y": "r2", "v": 9},
            {"x": "b", "y": "r2", "v": null},
        ]));
        let svg = heatmap(
            &Words::default(),
            data,
            "x".into(),
            "y".into(),
            "v".into(),
            kw(&[("title", "Heat")]),
        )
        .expect("chart")
        .to_string();
        accessible(&svg);
        // min 1 → lightest Blues stop, max 9 → darkest; 5 is halfway (stop 4
        // of 0..8), 3 a quarter (stop 2)
        assert_eq!(cell(&svg, "a, r1: 1"), ("#F7FBFF".into(), "#000000".into()));
        assert_eq!(cell(&svg, "a, r2: 9"), ("#08306B".into(), "#FFFFFF".into()));
        assert_eq!(cell(&svg, "b, r1: 5").0, "#6BAED6");
        assert_eq!(cell(&svg, "&lt;script&gt;, r1: 3").0, "#C6DBEF");
        assert_eq!(cell(&svg, "b, r2: no data").0, "#FFFFFF");
        assert_eq!(cell(&svg, "&lt;script&gt;, r2: no data").0, "#FFFFFF");
        assert!(svg.contains(">–</text>"));
        assert!(svg.contains("min 1<") && svg.contains("max 9<"));
        assert!(!svg.contains("<script>"));
        let two = heatmap(
            &Words::default(),
            rows(serde_json::json!([{"x": "a", "y": "r", "v": 0.4}])),
            "x".into(),
            "y".into(),
            "v".into(),
            kw(&[("unit", "%")]),
        )
        .expect("chart")
        .to_string();
        // one value: default 1 decimal for a fraction, mid-scale colour
        assert!(two.contains(">0.4%<"), "{two}");
        assert_eq!(cell(&two, "a, r: 0.4%").0, "#6BAED6");
    }

    #[test]
    fn blues_interpolates_between_stops() {
        assert_eq!(hex(blues(0.0)), "#F7FBFF");
        assert_eq!(hex(blues(1.0)), "#08306B");
        // halfway between #F7FBFF and #DEEBF7: (247+222)/2, (251+235)/2, (255+247)/2
        assert_eq!(hex(blues(1.0 / 16.0)), "#EBF3FB");
    }
}
