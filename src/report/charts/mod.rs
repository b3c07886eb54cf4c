//! Inline SVG charts for reports, called from templates as functions
//! (`{{ line_chart(rows, "period", "nps", series="channel", title="NPS") }}`),
//! one file per chart over the shared primitives here. Every label is
//! escaped, every chart carries a text alternative (`<title>`,
//! `aria-label`), and the palette is Okabe–Ito (colour-blind safe).
//!
//! Charts write no language of their own: the words around their figures
//! ("min", "no data", "total") and the names of the codes they draw
//! (`online`, `Premier`) come in as [`Words`], taken from the report's
//! locale. Series keep their order and colour in every language: names
//! are looked up only where they are written.

mod funnel;
mod grouped_bar;
mod heatmap;
mod journey;
mod line;
mod pareto;
mod pyramid;
mod quadrant;
mod sparkline;
mod stacked_area;
mod stacked_bar;

pub use funnel::funnel;
pub use grouped_bar::grouped_bar;
pub use heatmap::heatmap;
pub use journey::journey_map;
pub use line::line_chart;
pub use pareto::pareto_curve;
pub use pyramid::pyramid;
pub use quadrant::quadrant;
pub use sparkline::sparkline;
pub use stacked_area::stacked_area;
pub use stacked_bar::stacked_bar;

use minijinja::value::{Kwargs, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

/// The words a chart writes around its figures, in the report's language,
/// and the names of the codes it draws. `{name}` marks where a value goes.
#[derive(Debug, Clone)]
pub struct Words {
    /// Heatmap legend: `min 1`.
    pub min: String,
    /// Heatmap legend: `max 9`.
    pub max: String,
    /// A missing cell or an empty series.
    pub no_data: String,
    /// Heatmap text alternative: `Range {lo} to {hi}.`
    pub range: String,
    /// Stacked area text alternative: `total {n}`.
    pub total: String,
    /// Funnel: `{share}% of first`.
    pub of_first: String,
    /// Funnel with `share="total"`: `{share}% of all`.
    pub of_all: String,
    /// Sparkline: `trend from {from} to {to} over {n} periods`.
    pub trend: String,
    /// Sparkline of one point: `trend from {from} to {to} over 1 period`.
    pub trend_one: String,
    /// Sparkline description: `{from} to {to}`.
    pub span: String,
    /// Pareto curve mark: `top {x}: {y}` (top 10%: 62%).
    pub top_share: String,
    /// Pareto curve: the diagonal where every member brings the same.
    pub equal_share: String,
    /// Journey map: the legend of the starred cells.
    pub key_moment: String,
    /// Quadrant text alternative: `{group}: {items}.`
    pub grouped: String,
    /// Between the items of a list: `, `.
    pub list_separator: String,
    /// Code in the data → its name (none in English: codes as they are).
    pub labels: Arc<HashMap<String, String>>,
}

impl Default for Words {
    /// English.
    fn default() -> Self {
        Words {
            min: "min".into(),
            max: "max".into(),
            no_data: "no data".into(),
            range: "Range {lo} to {hi}.".into(),
            total: "total {n}".into(),
            of_first: "{share}% of first".into(),
            of_all: "{share}% of all".into(),
            trend: "trend from {from} to {to} over {n} periods".into(),
            trend_one: "trend from {from} to {to} over 1 period".into(),
            span: "{from} to {to}".into(),
            top_share: "top {x}: {y}".into(),
            equal_share: "equal shares".into(),
            key_moment: "key moment".into(),
            grouped: "{group}: {items}.".into(),
            list_separator: ", ".into(),
            labels: Arc::default(),
        }
    }
}

impl Words {
    /// The words of a locale: each English text through its catalog.
    pub fn of(locale: &super::Locale) -> Self {
        let en = Words::default();
        let t = |s: &str| locale.text(s).to_string();
        Words {
            min: t(&en.min),
            max: t(&en.max),
            no_data: t(&en.no_data),
            range: t(&en.range),
            total: t(&en.total),
            of_first: t(&en.of_first),
            of_all: t(&en.of_all),
            trend: t(&en.trend),
            trend_one: t(&en.trend_one),
            span: t(&en.span),
            top_share: t(&en.top_share),
            equal_share: t(&en.equal_share),
            key_moment: t(&en.key_moment),
            grouped: t(&en.grouped),
            list_separator: t(&en.list_separator),
            labels: locale.values.clone(),
        }
    }

    /// A code's name (`online` → `网上银行`), or the code.
    pub fn label<'a>(&'a self, code: &'a str) -> &'a str {
        self.labels.get(code).map_or(code, String::as_str)
    }

    /// `text` with each `{name}` replaced.
    pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
        values.iter().fold(text.to_string(), |acc, (k, v)| {
            acc.replace(&format!("{{{k}}}"), v)
        })
    }
}

/// Register every chart function in a template environment, writing
/// `words` around the figures.
pub fn register(env: &mut minijinja::Environment<'_>, words: Words) {
    let w = Arc::new(words);
    let c = w.clone();
    env.add_function(
        "line_chart",
        move |rows: Value, x: String, y: String, kw: Kwargs| line_chart(&c, rows, x, y, kw),
    );
    let c = w.clone();
    env.add_function(
        "pareto_curve",
        move |rows: Value, x: String, y: String, kw: Kwargs| pareto_curve(&c, rows, x, y, kw),
    );
    let c = w.clone();
    env.add_function(
        "stacked_bar",
        move |rows: Value, x: String, y: String, kw: Kwargs| stacked_bar(&c, rows, x, y, kw),
    );
    let c = w.clone();
    env.add_function(
        "pyramid",
        move |rows: Value, l: String, v: String, kw: Kwargs| pyramid(&c, rows, l, v, kw),
    );
    let c = w.clone();
    env.add_function(
        "stacked_area",
        move |rows: Value, x: String, y: String, kw: Kwargs| stacked_area(&c, rows, x, y, kw),
    );
    let c = w.clone();
    env.add_function(
        "funnel",
        move |rows: Value, s: String, v: String, kw: Kwargs| funnel(&c, rows, s, v, kw),
    );
    let c = w.clone();
    env.add_function(
        "journey_map",
        move |rows: Value, s: String, t: String, v: String, kw: Kwargs| {
            journey_map(&c, rows, s, t, v, kw)
        },
    );
    let c = w.clone();
    env.add_function(
        "grouped_bar",
        move |rows: Value, x: String, ys: Vec<String>, kw: Kwargs| grouped_bar(&c, rows, x, ys, kw),
    );
    let c = w.clone();
    env.add_function(
        "quadrant",
        move |rows: Value, x: String, y: String, l: String, kw: Kwargs| {
            quadrant(&c, rows, x, y, l, kw)
        },
    );
    let c = w.clone();
    env.add_function(
        "heatmap",
        move |rows: Value, x: String, y: String, v: String, kw: Kwargs| {
            heatmap(&c, rows, x, y, v, kw)
        },
    );
    env.add_function(
        "sparkline",
        move |rows: Value, x: String, y: String, kw: Kwargs| sparkline(&w, rows, x, y, kw),
    );
}

pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

pub(super) const W: f64 = 640.0;
pub(super) const H: f64 = 260.0;
pub(super) const LEFT: f64 = 64.0;
pub(super) const RIGHT: f64 = 150.0;
pub(super) const TOP: f64 = 16.0;
pub(super) const BOTTOM: f64 = 40.0;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The largest magnitude a chart draws: far past any amount, and sums of
/// many such values still fit an f64 (axes and stacks add them up).
const MAX_DRAWN: f64 = 1e300;

/// A row's value as a number to draw. A NaN (0/0 in SQL), an infinity or a
/// magnitude past [`MAX_DRAWN`] has no place on an axis: like a null, it is
/// not drawn (the scale and every coordinate would become NaN).
pub(super) fn num(v: &Value) -> Option<f64> {
    if v.is_undefined() || v.is_none() {
        return None;
    }
    f64::try_from(v.clone())
        .ok()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .filter(|x| x.abs() <= MAX_DRAWN)
}

pub(super) fn text(v: &Value) -> String {
    if v.is_none() || v.is_undefined() {
        String::new()
    } else {
        v.to_string()
    }
}

/// (x, series, y) triples from rows.
pub(super) fn points(
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
pub(super) fn nice(max: f64) -> (f64, f64) {
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

pub(super) fn fmt_tick(v: f64, unit: &str) -> String {
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

pub(super) fn open_svg(svg: &mut String, title: &str, alt: &str) {
    open_svg_sized(svg, W, H, title, alt);
}

pub(super) fn open_svg_sized(svg: &mut String, w: f64, h: f64, title: &str, alt: &str) {
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title><desc>{}</desc>"#,
        esc(title),
        esc(title),
        esc(alt)
    );
}

pub(super) fn axes(
    svg: &mut String,
    xs: &[String],
    lo: f64,
    hi: f64,
    step: f64,
    unit: &str,
    y_label: &str,
) {
    let ph = H - TOP - BOTTOM;
    // Counted, not stepped until past `hi`: that never ends once a step
    // stops moving `t` (an infinity).
    let ticks = ((hi - lo) / step).round().clamp(0.0, 20.0) as usize;
    for i in 0..=ticks {
        let t = lo + i as f64 * step;
        let y = TOP + ph - (t - lo) / (hi - lo) * ph;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 3.0,
            esc(&fmt_tick(t, unit))
        );
    }
    let pw = W - LEFT - RIGHT;
    // Every label that fits: as many as the widest label (about 6 px a
    // character, and a gap) leaves room for, so 12 months do not overlap.
    let widest = xs.iter().map(|x| x.chars().count()).max().unwrap_or(0) as f64 * 6.0 + 8.0;
    let slot = pw / xs.len().max(1) as f64;
    let every = ((widest / slot).ceil() as usize).max(1);
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
    y_title(svg, y_label);
}

/// The y axis's title, turned up the left edge.
pub(super) fn y_title(svg: &mut String, y_label: &str) {
    let mid = TOP + (H - TOP - BOTTOM) / 2.0;
    let _ = write!(
        svg,
        r#"<text x="12" y="{mid}" font-size="10" transform="rotate(-90 12 {mid})" text-anchor="middle">{}</text>"#,
        esc(y_label)
    );
}

/// Both axes' titles: the x title under the plot, the y title on its left.
pub(super) fn axis_titles(svg: &mut String, x_label: &str, y_label: &str) {
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 6.0,
        esc(x_label)
    );
    y_title(svg, y_label);
}

/// "No data", in the middle of an empty plot.
pub(super) fn no_data_note(svg: &mut String, words: &Words) {
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        TOP + (H - TOP - BOTTOM) / 2.0,
        esc(&words.no_data)
    );
}

/// One swatch and name per series, each code written as `words` name it.
pub(super) fn legend(svg: &mut String, names: &[String], words: &Words) {
    for (i, n) in names.iter().map(|n| words.label(n)).enumerate() {
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

pub(super) fn kw_str(kwargs: &Kwargs, key: &str) -> Result<Option<String>, minijinja::Error> {
    kwargs.get::<Option<String>>(key)
}

/// Distinct values in first-seen order.
pub(super) fn first_seen<'a>(vals: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    vals.filter(|v| seen.insert(*v))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
pub(super) mod test_util {
    use minijinja::value::{Kwargs, Value};

    pub fn rows(v: serde_json::Value) -> Value {
        Value::from_serialize(v)
    }

    pub fn kw(pairs: &[(&'static str, &str)]) -> Kwargs {
        Kwargs::from_iter(pairs.iter().map(|(k, v)| (*k, Value::from(*v))))
    }

    /// The numbers after `key="` (first occurrence at or after `from`).
    pub fn attr(svg: &str, key: &str, from: usize) -> Option<(String, usize)> {
        let pat = format!("{key}=\"");
        let i = svg[from..].find(&pat)? + from + pat.len();
        let j = svg[i..].find('"')? + i;
        Some((svg[i..j].to_string(), j))
    }

    pub fn accessible(svg: &str) {
        assert!(svg.contains("<title>"), "{svg}");
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(svg.contains("aria-label=\""), "{svg}");
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn labels_are_escaped_and_alt_text_present() {
        let rows = Value::from_serialize(vec![
            serde_json::json!({"m": "2024-01", "c": "<script>", "v": 1.0}),
            serde_json::json!({"m": "2024-02", "c": "<script>", "v": 3.0}),
        ]);
        let svg = line_chart(
            &Words::default(),
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
    fn new_charts_callable_from_templates() {
        let mut env = minijinja::Environment::new();
        register(&mut env, Words::default());
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
    fn alt_overrides_text_alternative_in_new_charts() {
        let data = || {
            rows(serde_json::json!([
                {"x": "a", "y": "r", "v": 1},
                {"x": "b", "y": "r", "v": 2},
            ]))
        };
        let alt = || kw(&[("alt", "Custom <alt>")]);
        let svgs = [
            stacked_area(&Words::default(), data(), "x".into(), "v".into(), alt()),
            funnel(&Words::default(), data(), "x".into(), "v".into(), alt()),
            heatmap(
                &Words::default(),
                data(),
                "x".into(),
                "y".into(),
                "v".into(),
                alt(),
            ),
            sparkline(&Words::default(), data(), "x".into(), "v".into(), alt()),
            pareto_curve(&Words::default(), data(), "v".into(), "v".into(), alt()),
            journey_map(
                &Words::default(),
                data(),
                "x".into(),
                "y".into(),
                "v".into(),
                alt(),
            ),
            quadrant(
                &Words::default(),
                data(),
                "v".into(),
                "v".into(),
                "x".into(),
                alt(),
            ),
            grouped_bar(
                &Words::default(),
                data(),
                "x".into(),
                vec!["v".into()],
                alt(),
            ),
        ];
        for svg in svgs {
            let svg = svg.expect("chart").to_string();
            accessible(&svg);
            assert!(svg.contains("Custom &lt;alt&gt;"), "{svg}");
            assert!(!svg.contains("Custom <alt>"));
        }
    }

    /// NaN (a 0/0 in SQL), infinities and extremes the sums overflow on
    /// draw nothing odd: every coordinate is a number, every chart ends.
    #[test]
    fn non_finite_and_huge_values_draw_finite_charts() {
        let data = || {
            rows(serde_json::json!([
                {"x": "a", "s": "atm", "v": "NaN"},
                {"x": "a", "s": "branch", "v": 1.7e308},
                {"x": "b", "s": "atm", "v": 1.7e308},
                {"x": "b", "s": "branch", "v": "inf"},
                {"x": "c", "s": "atm", "v": -1.7e308},
                {"x": "c", "s": "branch", "v": 2},
            ]))
        };
        let series = || kw(&[("series", "s")]);
        let none = || kw(&[]);
        let (x, v) = (|| "x".to_string(), || "v".to_string());
        let svgs = [
            line_chart(&Words::default(), data(), x(), v(), series()),
            stacked_bar(&Words::default(), data(), x(), v(), series()),
            pyramid(&Words::default(), data(), x(), v(), none()),
            stacked_area(&Words::default(), data(), x(), v(), series()),
            funnel(&Words::default(), data(), x(), v(), none()),
            heatmap(&Words::default(), data(), x(), "s".into(), v(), none()),
            sparkline(&Words::default(), data(), x(), v(), none()),
            // Shares as both axes: NaN, infinities and extremes on each.
            pareto_curve(&Words::default(), data(), v(), v(), series()),
            journey_map(&Words::default(), data(), x(), "s".into(), v(), none()),
            quadrant(&Words::default(), data(), v(), v(), x(), none()),
            grouped_bar(&Words::default(), data(), x(), vec![v()], none()),
        ];
        // An axis maximum that overflowed to infinity made the tick loop
        // endless (here it would hang; a thread turns that into a failure).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let huge = rows(serde_json::json!([{"x": "a", "v": 1.7e308}]));
            let svg = line_chart(&Words::default(), huge, "x".into(), "v".into(), kw(&[]));
            let _ = tx.send(svg.map(|s| s.to_string()));
        });
        let ended = rx.recv_timeout(std::time::Duration::from_secs(20));
        let last = ended.expect("the chart ends").expect("chart");
        for svg in svgs.into_iter().chain([Ok(Value::from_safe_string(last))]) {
            let svg = svg.expect("chart").to_string();
            // Attributes other than the text alternative hold numbers.
            let mut from = 0;
            while let Some(i) = svg[from..].find("=\"").map(|i| i + from) {
                let j = svg[i + 2..].find('"').map(|j| j + i + 2).expect("closed");
                let attr = &svg[i + 2..j];
                let text = svg[..i].ends_with("aria-label");
                assert!(
                    text || !(attr.contains("NaN") || attr.contains("inf")),
                    "{attr} in {svg}"
                );
                from = j + 1;
            }
        }
    }

    /// In a Chinese edition every word a chart writes is the catalog's, and
    /// a series keeps the colour it has in English (order by code).
    #[test]
    fn charts_write_the_words_they_are_given() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let zh = Words::of(&super::super::Locale::load(&dir, "zh-CN").expect("catalog"));
        let data = || {
            rows(serde_json::json!([
                {"x": "2024-01", "s": "online", "v": 3},
                {"x": "2024-01", "s": "atm", "v": 1},
                {"x": "2024-02", "s": "atm", "v": 2},
            ]))
        };
        let (x, v) = (|| "x".to_string(), || "v".to_string());
        let series = || kw(&[("series", "s")]);
        let svgs = [
            heatmap(&zh, data(), x(), "s".into(), v(), kw(&[])),
            line_chart(&zh, data(), x(), v(), series()),
            stacked_area(&zh, data(), x(), v(), series()),
            stacked_bar(&zh, data(), x(), v(), series()),
            funnel(&zh, data(), "s".into(), v(), kw(&[])),
            pyramid(&zh, data(), "s".into(), v(), kw(&[])),
            sparkline(&zh, data(), x(), v(), kw(&[])),
            pareto_curve(
                &zh,
                rows(serde_json::json!([{"x": 0.1, "s": "online", "v": 0.5}])),
                x(),
                v(),
                series(),
            ),
            journey_map(
                &zh,
                rows(serde_json::json!([{"x": "pre", "s": "online", "v": 0.5, "k": true}])),
                x(),
                "s".into(),
                v(),
                kw(&[("moment", "k")]),
            ),
            quadrant(
                &zh,
                rows(serde_json::json!([{"s": "online", "x": 4.0, "v": 0.5, "q": "concentrate here"}])),
                x(),
                v(),
                "s".into(),
                kw(&[("quadrant", "q")]),
            ),
        ]
        .map(|s| s.map(|s| s.to_string()).expect("chart"));
        let heat = &svgs[0];
        assert!(
            heat.contains(">最小 1<") && heat.contains(">最大 3<"),
            "{heat}"
        );
        assert!(
            heat.contains("– 无数据") && heat.contains("范围 1 至 3。"),
            "{heat}"
        );
        for svg in &svgs[1..] {
            assert!(!svg.contains("online"), "{svg}");
        }
        for svg in &svgs {
            for english in [
                "min ",
                "max ",
                "no data",
                "Range",
                "total",
                "of first",
                "trend",
                "top ",
                "equal shares",
                "key moment",
                "concentrate here",
                "keep up",
                "low priority",
                "possible overkill",
            ] {
                assert!(!svg.contains(english), "`{english}` in {svg}");
            }
        }
        assert!(svgs[2].contains("合计 4") && svgs[4].contains("为首阶段的"));
        assert!(svgs[6].contains("3 期走势：由 3.0 至 2.0"), "{}", svgs[6]);
        assert!(
            svgs[7].contains("前 10% 客户：50%") && svgs[7].contains(">均等线<"),
            "{}",
            svgs[7]
        );
        assert!(
            svgs[8].contains("★ 关键时刻") && svgs[8].contains(">售前<"),
            "{}",
            svgs[8]
        );
        assert!(
            svgs[9].contains(">集中改进<") && svgs[9].contains("集中改进：网上银行。"),
            "{}",
            svgs[9]
        );
        // The line legend: atm (first by code) in the first colour, named 自助设备.
        let en = line_chart(&Words::default(), data(), x(), v(), series())
            .expect("chart")
            .to_string();
        let swatch = |svg: &str, name: &str| {
            let at = svg.find(&format!(">{name}</text>")).expect(name);
            attr(svg, "fill", svg[..at].rfind("<rect").expect("swatch"))
                .expect("fill")
                .0
        };
        assert_eq!(swatch(&en, "atm"), swatch(&svgs[1], "自助设备"));
        assert_eq!(swatch(&en, "online"), swatch(&svgs[1], "网上银行"));
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice(83.0), (100.0, 25.0));
        assert_eq!(nice(0.42), (0.5, 0.125));
    }
}
