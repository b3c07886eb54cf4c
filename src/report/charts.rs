//! Inline SVG charts for reports, called from templates as functions
//! (`{{ line_chart(rows, "period", "nps", series="channel", title="NPS") }}`).
//! Every label is escaped, every chart carries a text alternative
//! (`<title>`, `aria-label`), and the palette is Okabe–Ito (colour-blind safe).

use minijinja::value::{Kwargs, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    open_svg_sized(svg, W, H, title, alt);
}

fn open_svg_sized(svg: &mut String, w: f64, h: f64, title: &str, alt: &str) {
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title><desc>{}</desc>"#,
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

/// Distinct values in first-seen order.
fn first_seen<'a>(vals: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    vals.filter(|v| seen.insert(*v))
        .map(str::to_string)
        .collect()
}

/// Stacked areas over x in first-seen order (e.g. interactions per month by
/// channel): one filled `<path>` per series, stacked in first-seen series
/// order. A missing (x, series) counts as 0, negative values as 0, repeated
/// (x, series) rows are summed.
pub fn stacked_area(
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
                .map(|(s, n)| format!("{n} {}", fmt_tick(grid[s][i], &unit)))
                .collect();
            let _ = write!(
                a,
                "{xv}: {} (total {}). ",
                parts.join(", "),
                fmt_tick(totals[i], &unit)
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
            esc(name)
        );
        below = top;
    }
    legend(&mut svg, &names);
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

const FUNNEL_ROW: f64 = 30.0;
const FUNNEL_LEFT: f64 = 140.0;
const FUNNEL_BAR: f64 = 320.0;

/// A funnel: centred horizontal bars in row order (e.g. loyalty ladder
/// stages), each labelled with its value and its share of the first stage.
pub fn funnel(
    rows: Value,
    stage: String,
    value: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| value.clone());
    let unit = kw_str(&kwargs, "unit")?.unwrap_or_default();
    let alt = kw_str(&kwargs, "alt")?;
    kwargs.assert_all_used()?;
    let mut items = Vec::new();
    for row in rows.try_iter()? {
        items.push((
            text(&row.get_attr(&stage)?),
            num(&row.get_attr(&value)?).unwrap_or(0.0).max(0.0),
        ));
    }
    let first = items.first().map(|i| i.1).unwrap_or(0.0);
    let label = |v: f64| {
        if first > 0.0 {
            format!(
                "{} — {:.1}% of first",
                fmt_tick(v, &unit),
                v / first * 100.0
            )
        } else {
            fmt_tick(v, &unit)
        }
    };
    let max = items
        .iter()
        .map(|i| i.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let alt = alt.unwrap_or_else(|| {
        format!(
            "{title}. {}",
            items
                .iter()
                .map(|(l, v)| format!("{l}: {}", label(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let h = TOP + items.len() as f64 * FUNNEL_ROW + 12.0;
    let mut svg = String::new();
    open_svg_sized(&mut svg, W, h, &title, &alt);
    let cx = FUNNEL_LEFT + FUNNEL_BAR / 2.0;
    let bh = FUNNEL_ROW * 0.75;
    for (i, (l, v)) in items.iter().enumerate() {
        let w = v / max * FUNNEL_BAR;
        let y = TOP + i as f64 * FUNNEL_ROW;
        let ty = y + bh / 2.0 + 4.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{ty:.1}" font-size="11" text-anchor="end">{}</text><rect x="{:.1}" y="{y:.1}" width="{w:.1}" height="{bh:.1}" fill="{}"/><text x="{:.1}" y="{ty:.1}" font-size="11">{}</text>"#,
            FUNNEL_LEFT - 8.0,
            esc(l),
            cx - w / 2.0,
            PALETTE[0],
            FUNNEL_LEFT + FUNNEL_BAR + 10.0,
            esc(&label(*v))
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

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
fn blues(t: f64) -> (u8, u8, u8) {
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

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// Black or white, whichever contrasts more with the fill (WCAG luminance).
fn ink((r, g, b): (u8, u8, u8)) -> &'static str {
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

/// A heatmap: x columns and y rows in first-seen order, each cell coloured on
/// a light-to-dark blue scale from the minimum to the maximum and showing its
/// value (`digits` decimals; default 0 for whole numbers, else 1). A missing
/// or null cell is blank with "–"; a repeated (x, y) keeps the last value.
pub fn heatmap(
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
            text(&row.get_attr(&x)?),
            text(&row.get_attr(&y)?),
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
                    None => format!("{xv} no data"),
                })
                .collect();
            let _ = write!(a, "{yv}: {}. ", parts.join(", "));
        }
        if !grid.is_empty() {
            let _ = write!(a, "Range {} to {}.", fmtv(lo), fmtv(hi));
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
                    "no data".to_string(),
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
        for k in 0..5 {
            let ly = TOP + 12.0 * k as f64;
            let _ = write!(
                svg,
                r#"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{}"/>"#,
                hex(blues(k as f64 / 4.0))
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" font-size="11">min {}</text><text x="{}" y="{}" font-size="11">max {}</text>"#,
            lx + 18.0,
            TOP + 10.0,
            esc(&fmtv(lo)),
            lx + 18.0,
            TOP + 58.0,
            esc(&fmtv(hi))
        );
    }
    if grid.len() < xs.len() * ys.len() {
        let ly = TOP + 72.0;
        let _ = write!(
            svg,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="#FFFFFF" stroke="#DDDDDD"/><text x="{}" y="{}" font-size="11">– no data</text>"##,
            lx + 18.0,
            ly + 10.0
        );
    }
    svg.push_str("</svg>");
    Ok(Value::from_safe_string(svg))
}

const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 28.0;
const SPARK_PAD: f64 = 3.0;

/// A word-sized trend line (about 120×28, no axes) of y in row order, with a
/// dot at the last point; rows with a null y are skipped.
pub fn sparkline(
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
        (Some(a), Some(b)) => format!(
            "trend from {:.1} to {:.1} over {n} period{}",
            a.2,
            b.2,
            if n == 1 { "" } else { "s" }
        ),
        _ => "no data".to_string(),
    });
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="sparkline" width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(&alt),
        esc(&alt)
    );
    if let (Some(a), Some(b)) = (pts.first(), pts.last()) {
        let _ = write!(svg, "<desc>{} to {}</desc>", esc(&a.0), esc(&b.0));
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

    fn rows(v: serde_json::Value) -> Value {
        Value::from_serialize(v)
    }

    fn kw(pairs: &[(&'static str, &str)]) -> Kwargs {
        Kwargs::from_iter(pairs.iter().map(|(k, v)| (*k, Value::from(*v))))
    }

    /// The numbers after `key="` (first occurrence at or after `from`).
    fn attr(svg: &str, key: &str, from: usize) -> Option<(String, usize)> {
        let pat = format!("{key}=\"");
        let i = svg[from..].find(&pat)? + from + pat.len();
        let j = svg[i..].find('"')? + i;
        Some((svg[i..j].to_string(), j))
    }

    fn accessible(svg: &str) {
        assert!(svg.contains("<title>"), "{svg}");
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(svg.contains("aria-label=\""), "{svg}");
    }

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

    #[test]
    fn funnel_widths_and_share_of_first() {
        let data = rows(serde_json::json!([
            {"s": "Prospect", "n": 1000},
            {"s": "Customer", "n": 600},
            {"s": "Advocate <b>", "n": 150},
        ]));
        let svg = funnel(data, "s".into(), "n".into(), kw(&[("title", "Ladder")]))
            .expect("chart")
            .to_string();
        accessible(&svg);
        let mut widths = Vec::new();
        let mut at = 0;
        while let Some((w, j)) = attr(&svg, "width", at) {
            widths.push(w.parse::<f64>().expect("width"));
            at = j;
        }
        assert_eq!(widths.len(), 3, "{svg}");
        assert!((widths[1] / widths[0] - 0.6).abs() < 1e-3);
        assert!((widths[2] / widths[0] - 0.15).abs() < 1e-3);
        assert!(svg.contains("1000 — 100.0% of first"));
        assert!(svg.contains("600 — 60.0% of first"));
        assert!(svg.contains("150 — 15.0% of first"));
        assert!(svg.contains("Advocate &lt;b&gt;") && !svg.contains("<b>"));
    }

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
        let svg = sparkline(data, "p".into(), "v".into(), kw(&[]))
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

    #[test]
    fn alt_overrides_text_alternative_in_new_charts() {
        let data = || {
            rows(serde_json::json!([
                {"x": "a", "y": "r", "v": 1},
                {"x": "b", "y": "r", "v": 2},
            ]))
        };
        let alt = || kw(&[("alt", "Custom <alt>")]);
        let svgs = [
            stacked_area(data(), "x".into(), "v".into(), alt()),
            funnel(data(), "x".into(), "v".into(), alt()),
            heatmap(data(), "x".into(), "y".into(), "v".into(), alt()),
            sparkline(data(), "x".into(), "v".into(), alt()),
        ];
        for svg in svgs {
            let svg = svg.expect("chart").to_string();
            accessible(&svg);
            assert!(svg.contains("Custom &lt;alt&gt;"), "{svg}");
            assert!(!svg.contains("Custom <alt>"));
        }
    }

    #[test]
    fn new_charts_callable_from_templates() {
        let mut env = minijinja::Environment::new();
        env.add_function("stacked_area", stacked_area);
        env.add_function("funnel", funnel);
        env.add_function("heatmap", heatmap);
        env.add_function("sparkline", sparkline);
        let out = env
            .render_str(
                r#"{{ stacked_area(r, "x", "v", series="y", title="T", y_label="n", unit="") }}{{ funnel(r, "x", "v", title="F", unit="") }}{{ heatmap(r, "x", "y", "v", title="H", digits=1) }}{{ sparkline(r, "x", "v") }}"#,
                minijinja::context! { r => serde_json::json!([{"x": "a", "y": "r", "v": 1}]) },
            )
            .expect("render");
        assert_eq!(out.matches("<svg").count(), 4);
        assert!(out.contains(">1.0<"));
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice(83.0), (100.0, 25.0));
        assert_eq!(nice(0.42), (0.5, 0.125));
    }
}
