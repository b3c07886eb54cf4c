//! Report formatting: the number, money, percent and signed filters and
//! `group` on arbitrary f64s and digit counts, period labels in English and
//! the shipped zh-CN catalog, and every chart with arbitrary JSON rows.
//! No panic, no hang; the filters' output through an HTML template is
//! escaped; every chart is markup the charts write (known tags, quoted
//! attributes, entities for `<`, `>`, `&` and quotes in labels, balanced
//! tags) with finite coordinates.
//!
//! Input: 8 bytes of an f64, a byte of digits (mod 20), then text that is a
//! period label, a number, and the JSON rows (an array of objects with keys
//! like `x`, `s`, `v`, or anything).
#![no_main]

mod markup;

use libfuzzer_sys::fuzz_target;
use minijinja::value::Value;
use std::path::Path;
use std::sync::LazyLock;
use touchpoint::report::format::{group, money, number, percent, signed};
use touchpoint::report::locale::Locale;

fn reports() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports")
}

static ZH: LazyLock<Locale> =
    LazyLock::new(|| Locale::load(&reports(), "zh-CN").expect("the shipped zh-CN catalog"));

/// The report environment (autoescaping by template name, the filters, the
/// charts), in each locale.
static ENVS: LazyLock<[minijinja::Environment<'static>; 2]> = LazyLock::new(|| {
    [
        touchpoint::report::environment::environment(&reports(), "HKD", &Locale::english()),
        touchpoint::report::environment::environment(&reports(), "CNY", &ZH),
    ]
});

/// Every filter on `x` and `text` in an HTML template: the template itself
/// has no markup, so none may appear in the output.
const FILTERS: &str = "{{ x|num }} {{ x|num(d) }} {{ x|pct }} {{ x|pct(d) }} {{ x|signed }} \
{{ x|signed(d) }} {{ x|money }} {{ text|period_label }}";

const CHARTS: [&str; 10] = [
    r#"{{ line_chart(rows, "x", "v", series="s", title="T", unit="%") }}"#,
    r#"{{ line_chart(rows, "x", "v") }}"#,
    r#"{{ stacked_bar(rows, "x", "v", series="s", unit="") }}"#,
    r#"{{ pyramid(rows, "x", "v", unit="") }}"#,
    r#"{{ stacked_area(rows, "x", "v", series="s", y_label="n") }}"#,
    r#"{{ stacked_area(rows, "x", "v") }}"#,
    r#"{{ funnel(rows, "x", "v", unit="") }}"#,
    r#"{{ heatmap(rows, "x", "s", "v", digits=d) }}"#,
    r#"{{ heatmap(rows, "x", "s", "v") }}"#,
    r#"{{ sparkline(rows, "x", "v") }}"#,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let x = f64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    let digits = usize::from(data[8] % 20);
    let text = String::from_utf8_lossy(&data[9..]);
    let en = Locale::english();
    let zh = &*ZH;

    let mut values = vec![x];
    if let Ok(y) = text.trim().parse::<f64>() {
        values.push(y);
    }
    for &v in &values {
        let _ = group(v, digits);
        let value = Value::from(v);
        let _ = number(&value, digits);
        let _ = percent(&value, digits);
        let _ = signed(&value, digits);
        let _ = money(&value, "HKD", &en);
        let _ = money(&value, "", zh);
        let _ = en.money(v, "HKD");
        let _ = zh.money(v, "CNY");
        for env in ENVS.iter() {
            let ctx = minijinja::context! { x => v, d => digits, text => &*text };
            let out = env
                .render_named_str("filters.html.j2", FILTERS, ctx)
                .unwrap_or_else(|e| panic!("the filters fail: {e}"));
            assert!(
                !out.contains(['<', '>', '"', '\'']),
                "unescaped filter output: {out}"
            );
            markup::entities(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        }
    }

    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
        let rows = match json {
            serde_json::Value::Array(_) => json,
            other => serde_json::Value::Array(vec![other]),
        };
        let ctx = minijinja::context! {
            rows => Value::from_serialize(&rows),
            d => digits,
        };
        for chart in CHARTS {
            // A template error (rows that are not objects) is fine; a panic
            // or broken markup is not.
            if let Ok(svg) = ENVS[0].render_named_str("chart.html.j2", chart, &ctx) {
                markup::svg(&svg).unwrap_or_else(|e| panic!("{chart}: {e}\n{svg}"));
            }
        }
    }
});
