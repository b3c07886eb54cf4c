//! Report formatting: the number, money, percent and signed filters and
//! `group` on arbitrary f64s and digit counts, period labels in English and
//! the shipped zh-CN catalog, and every chart through a template environment
//! with arbitrary JSON rows. No panic, no hang.
//!
//! Input: 8 bytes of an f64, a byte of digits (mod 20), then text that is a
//! period label, a number, and the JSON rows (an array of objects with keys
//! like `x`, `s`, `v`, or anything).
#![no_main]

use libfuzzer_sys::fuzz_target;
use minijinja::value::Value;
use std::path::Path;
use std::sync::LazyLock;
use touchpoint::report::format::{group, money, number, percent, signed};
use touchpoint::report::locale::Locale;

static ZH: LazyLock<Locale> = LazyLock::new(|| {
    Locale::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports"),
        "zh-CN",
    )
    .expect("the shipped zh-CN catalog")
});

static ENV: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    touchpoint::report::charts::register(&mut env);
    env
});

const CHARTS: &str = r#"{{ line_chart(rows, "x", "v", series="s", title="T", unit="%") }}
{{ line_chart(rows, "x", "v") }}
{{ stacked_bar(rows, "x", "v", series="s", unit="") }}
{{ pyramid(rows, "x", "v", unit="") }}
{{ stacked_area(rows, "x", "v", series="s", y_label="n") }}
{{ stacked_area(rows, "x", "v") }}
{{ funnel(rows, "x", "v", unit="") }}
{{ heatmap(rows, "x", "s", "v", digits=digits) }}
{{ heatmap(rows, "x", "s", "v") }}
{{ sparkline(rows, "x", "v") }}"#;

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
    }
    let _ = en.period_label(&text);
    let _ = zh.period_label(&text);

    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
        let rows = match json {
            serde_json::Value::Array(_) => json,
            other => serde_json::Value::Array(vec![other]),
        };
        let ctx = minijinja::context! {
            rows => Value::from_serialize(&rows),
            digits => digits,
        };
        // A template error (rows that are not a list) is fine; a panic is not.
        let _ = ENV.render_str(CHARTS, ctx);
    }
});
