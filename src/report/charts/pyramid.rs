//! The value pyramid: one centred bar per tier, widest at the base.

use super::*;
use minijinja::value::{Kwargs, Value};
use std::fmt::Write;

/// Centred horizontal bars in row order (top of the list at the top): the
/// value pyramid.
pub fn pyramid(
    words: &Words,
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
            words.label(&text(&row.get_attr(&label)?)).to_string(),
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
