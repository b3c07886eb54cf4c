//! Inline SVG charts for reports, called from templates as functions
//! (`{{ line_chart(rows, "period", "nps", series="channel", title="NPS") }}`).
//! Every label is escaped, every chart carries a text alternative
//! (`<title>`, `aria-label`), and the palette is Okabe–Ito (colour-blind safe).

use minijinja::value::{Kwargs, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn num(v: &Value) -> Option<f64> {
    if v.is_undefined() || v.is_none() {
        return None;
    }
    f64::try_from(v.clone())
        .ok()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn text(v: &Value) -> String {
    if v.is_none() || v.is_undefined() {
        String::new()
    } else {
        v.to_string()
    }
}

/// (x, series, y) triples from rows.
fn points(
    rows: &Value,
    x: &str,
    y: &str,
    series: Option<&str>,
) -> Result<Vec<(String, String, f64)>, minijinja::Error> {
    let mut out = Vec::new();
    for row in rows.try_iter()? {
        let xv = text(&row.get_attr(x)?);
        let sv = match series {
            Some(s) => text(&row.get_attr(s)?),
            None => y.to_string(),
        };
        if let Some(yv) = num(&row.get_attr(y)?) {
            out.push((xv, sv, yv));
        }
    }
    Ok(out)
}

/// A round axis maximum and tick step for `max`.
fn nice(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let mag = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= max {
            let top = m * mag;
            return (top, top / 4.0);
        }
    }
    (10.0 * mag, 2.5 * mag)
}

fn fmt_tick(v: f64, unit: &str) -> String {
    let s = if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    format!("{s}{unit}")
}

fn open_svg(svg: &mut String, title: &str, alt: &str) {
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title><desc>{}</desc>"#,
        esc(title),
        esc(title),
        esc(alt)
    );
}

fn axes(svg: &mut String, xs: &[String], lo: f64, hi: f64, step: f64, unit: &str, y_label: &str) {
    let ph = H - TOP - BOTTOM;
    let mut t = lo;
    while t <= hi + step / 2.0 {
        let y = TOP + ph - (t - lo) / (hi - lo) * ph;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 3.0,
            esc(&fmt_tick(t, unit))
        );
        t += step;
    }
    let pw = W - LEFT - RIGHT;
    let every = (xs.len() / 8).max(1);
    for (i, x) in xs.iter().enumerate() {
        if i % every == 0 {
            let cx = LEFT + (i as f64 + 0.5) * pw / xs.len() as f64;
            let _ = write!(
                svg,
                r#"<text x="{cx:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
                H - BOTTOM + 14.0,
                esc(x)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text x="12" y="{}" font-size="10" transform="rotate(-90 12 {})" text-anchor="middle">{}</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(y_label)
    );
}

fn legend(svg: &mut String, names: &[String]) {
    for (i, n) in names.iter().enumerate() {
        let y = TOP + 14.0 * i as f64;
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{y}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            W - RIGHT + 10.0,
            PALETTE[i % PALETTE.len()],
            W - RIGHT + 24.0,
            y + 9.0,
            esc(n)
        );
    }
}

fn kw_str(kwargs: &Kwargs, key: &str) -> Result<Option<String>, minijinja::Error> {
    kwargs.get::<Option<String>>(key)
}

/// A line per series over ordered x categories (e.g. months).
pub fn line_chart(
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
            "{name}: {}. ",
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
    legend(&mut svg, &names);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

/// Stacked bars: one bar per x, one segment per series (e.g. channel share).
pub fn stacked_bar(
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
            .map(|p| format!("{} {}", p.1, fmt_tick(p.2, &unit)))
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
                esc(&format!("{xv} {s}: {}", fmt_tick(v, &unit)))
            );
            acc += v;
        }
    }
    legend(&mut svg, &names);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

/// Centred horizontal bars in row order (top of the list at the top): the
/// value pyramid.
pub fn pyramid(
    rows: Value,
    label: String,
    value: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| value.clone());
    let unit = kw_str(&kwargs, "unit")?.unwrap_or_default();
    kwargs.assert_all_used()?;
    let mut items = Vec::new();
    for row in rows.try_iter()? {
        items.push((
            text(&row.get_attr(&label)?),
            num(&row.get_attr(&value)?).unwrap_or(0.0),
        ));
    }
    let max = items
        .iter()
        .map(|i| i.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let alt = format!(
        "{title}. {}",
        items
            .iter()
            .map(|(l, v)| format!("{l}: {}", fmt_tick(*v, &unit)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut svg = String::new();
    open_svg(&mut svg, &title, &alt);
    let rh = (H - TOP - 8.0) / items.len().max(1) as f64;
    let cx = (W - 160.0) / 2.0 + 10.0;
    let maxw = W - 200.0;
    for (i, (l, v)) in items.iter().enumerate() {
        let w = (v / max * maxw).max(2.0);
        let y = TOP + i as f64 * rh;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{} — {}</text>"#,
            cx - w / 2.0,
            rh * 0.8,
            PALETTE[i % PALETTE.len()],
            cx + maxw / 2.0 + 8.0,
            y + rh * 0.5,
            esc(l),
            esc(&fmt_tick(*v, &unit))
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_alt_text_present() {
        let rows = Value::from_serialize(vec![
            serde_json::json!({"m": "2024-01", "c": "<script>", "v": 1.0}),
            serde_json::json!({"m": "2024-02", "c": "<script>", "v": 3.0}),
        ]);
        let env = minijinja::Environment::new();
        let _ = env;
        let svg = line_chart(
            rows,
            "m".into(),
            "v".into(),
            Kwargs::from_iter([("series", Value::from("c"))]),
        )
        .expect("chart")
        .to_string();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("<title>v</title>"));
        assert!(svg.contains("2024-02 3"), "{svg}");
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice(83.0), (100.0, 25.0));
        assert_eq!(nice(0.42), (0.5, 0.125));
    }
}
