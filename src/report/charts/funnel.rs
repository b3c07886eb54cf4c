//! A funnel: one bar per stage, widths as a share of the widest, labelled
//! with the share of the first stage or, for a ladder whose first stage is
//! not its largest, of all stages (`share="total"`).

use super::*;
use minijinja::value::{Kwargs, Value};
use std::fmt::Write;

const FUNNEL_ROW: f64 = 30.0;
const FUNNEL_LEFT: f64 = 140.0;
const FUNNEL_BAR: f64 = 320.0;

/// A funnel: centred horizontal bars in row order (e.g. loyalty ladder
/// stages), each labelled with its value and its share of the first stage
/// (`share="first"`, the default) or of all the stages (`share="total"`).
pub fn funnel(
    words: &Words,
    rows: Value,
    stage: String,
    value: String,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let title = kw_str(&kwargs, "title")?.unwrap_or_else(|| value.clone());
    let unit = kw_str(&kwargs, "unit")?.unwrap_or_default();
    let alt = kw_str(&kwargs, "alt")?;
    let of_all = match kw_str(&kwargs, "share")?.as_deref() {
        None | Some("first") => false,
        Some("total") => true,
        Some(other) => {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("funnel: share must be \"first\" or \"total\", not {other:?}"),
            ));
        }
    };
    kwargs.assert_all_used()?;
    let mut items = Vec::new();
    for row in rows.try_iter()? {
        items.push((
            words.label(&text(&row.get_attr(&stage)?)).to_string(),
            num(&row.get_attr(&value)?).unwrap_or(0.0).max(0.0),
        ));
    }
    let (base, words_of) = if of_all {
        (items.iter().map(|i| i.1).sum(), &words.of_all)
    } else {
        (items.first().map(|i| i.1).unwrap_or(0.0), &words.of_first)
    };
    let label = |v: f64| {
        if base > 0.0 {
            let share = format!("{:.1}", v / base * 100.0);
            format!(
                "{} — {}",
                fmt_tick(v, &unit),
                Words::fill(words_of, &[("share", &share)])
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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn funnel_widths_and_share_of_first() {
        let data = rows(serde_json::json!([
            {"s": "Prospect", "n": 1000},
            {"s": "Customer", "n": 600},
            {"s": "Advocate <b>", "n": 150},
        ]));
        let svg = funnel(
            &Words::default(),
            data,
            "s".into(),
            "n".into(),
            kw(&[("title", "Ladder")]),
        )
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

    #[test]
    fn funnel_share_of_all_stages() {
        // 20 + 50 + 30 = 100: each label is its own count in percent; a
        // stage of 0 is 0.0%; widths follow the largest stage.
        let data = rows(serde_json::json!([
            {"s": "Possible", "n": 20},
            {"s": "Repeat", "n": 50},
            {"s": "Dormant", "n": 30},
            {"s": "Left", "n": 0},
        ]));
        let svg = funnel(
            &Words::default(),
            data,
            "s".into(),
            "n".into(),
            kw(&[("title", "Ladder"), ("share", "total")]),
        )
        .expect("chart")
        .to_string();
        for want in [
            "20 — 20.0% of all",
            "50 — 50.0% of all",
            "30 — 30.0% of all",
            "0 — 0.0% of all",
        ] {
            assert!(svg.contains(want), "{want}: {svg}");
        }
        let (w, _) = attr(&svg, "width", svg.find("<rect").expect("bar")).expect("width");
        assert!(
            (w.parse::<f64>().expect("width") - FUNNEL_BAR * 0.4).abs() < 0.1,
            "{w}"
        );
        let bad = funnel(
            &Words::default(),
            rows(serde_json::json!([{"s": "A", "n": 1}])),
            "s".into(),
            "n".into(),
            kw(&[("share", "median")]),
        );
        assert!(bad.is_err());
    }
}
