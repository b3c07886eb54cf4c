//! The template environment: HTML autoescaping, strict undefined names,
//! the number and money filters in the report's locale, `t()` for labels,
//! `label` for codes in the data, the chart functions in the locale's
//! words; and Arrow rows as template values.

use super::locale::Locale;
use super::{charts, format, i18n};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeMap;
use std::path::Path;

/// A template error with where it happened.
pub fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let (Some(name), Some(line)) = (e.name(), e.line()) {
        s = format!("{s} ({name}:{line})");
    }
    s
}

/// The template environment: HTML autoescaping for `.html.j2`, strict
/// undefined (a typo fails the render instead of leaving an empty cell), the
/// number filters and the chart functions.
pub fn environment(dir: &Path, currency: &str, locale: &Locale) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(dir));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") || name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let (cur, money_locale) = (currency.to_string(), locale.clone());
    env.add_filter("money", move |v: Value| {
        format::money(&v, &cur, &money_locale)
    });
    let label_locale = locale.clone();
    env.add_filter("period_label", move |v: String| {
        label_locale.period_label(&v)
    });
    let catalog = locale.messages.clone();
    env.add_function("t", move |key: String, kwargs: minijinja::value::Kwargs| {
        i18n::translate(&catalog, &key, &kwargs)
    });
    // A code in the data as this language names it (`online` → 网上银行);
    // anything else (a number, a null, an unnamed code) unchanged.
    let value_locale = locale.clone();
    env.add_filter("label", move |v: Value| match v.as_str() {
        Some(code) => Value::from(value_locale.label(code)),
        None => v,
    });
    env.add_filter("num", |v: Value, digits: Option<usize>| {
        format::number(&v, digits.unwrap_or(0))
    });
    env.add_filter("pct", |v: Value, digits: Option<usize>| {
        format::percent(&v, digits.unwrap_or(1))
    });
    env.add_filter("signed", |v: Value, digits: Option<usize>| {
        format::signed(&v, digits.unwrap_or(1))
    });
    charts::register(&mut env, charts::Words::of(locale));
    env
}

/// Arrow rows → template values: numbers stay numbers (decimals as floats,
/// for display only), time as ISO text.
pub fn batch_rows(b: &RecordBatch) -> Vec<Value> {
    let schema = b.schema();
    (0..b.num_rows())
        .map(|r| {
            let mut m: BTreeMap<String, Value> = BTreeMap::new();
            for (i, f) in schema.fields().iter().enumerate() {
                let a = b.column(i);
                let v = if a.is_null(r) {
                    Value::from(())
                } else {
                    match a.data_type() {
                        DataType::Int8
                        | DataType::Int16
                        | DataType::Int32
                        | DataType::Int64
                        | DataType::UInt32
                        | DataType::UInt64 => array_value_to_string(a, r)
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .map(Value::from)
                            .unwrap_or_default(),
                        DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                            array_value_to_string(a, r)
                                .ok()
                                .and_then(|s| s.parse::<f64>().ok())
                                .map(Value::from)
                                .unwrap_or_default()
                        }
                        DataType::Boolean => Value::from(a.as_boolean().value(r)),
                        _ => Value::from(array_value_to_string(a, r).unwrap_or_default()),
                    }
                };
                m.insert(f.name().clone(), v);
            }
            Value::from(m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "What to act on" (the `actions` macro of the shipped templates) in
    /// each language: the rules that fired; none fired of those declared;
    /// none declared at all. The three read differently.
    #[test]
    fn no_rule_fired_is_not_no_rule_declared() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let zh = Locale::load(&dir, "zh-CN").expect("shipped catalog");
        let say = |locale: &Locale, actions: Value, rules: usize| {
            environment(&dir, "HKD", locale)
                .render_str(
                    r#"{% import "_macros.html.j2" as m %}{{ m.actions(actions, rules) }}"#,
                    minijinja::context! { actions, rules },
                )
                .expect("render")
        };
        let fired = || {
            Value::from_serialize(serde_json::json!([
                {"text": "Branch B01: wait 31 min", "priority": "high", "table": "service_alerts"},
            ]))
        };
        let none = || Value::from(Vec::<Value>::new());
        for (locale, idle, undeclared) in [
            (
                Locale::english(),
                "None of the 5 rules fired this month.",
                "This report declares no rules",
            ),
            (
                zh.clone(),
                "本月 5 条规则均未触发。",
                "本报告未设置任何规则",
            ),
        ] {
            let listed = say(&locale, fired(), 5);
            assert!(
                listed.contains("<li><span class=\"prio high\">"),
                "{listed}"
            );
            assert!(!listed.contains(idle) && !listed.contains(undeclared));
            let quiet = say(&locale, none(), 5);
            assert!(
                quiet.contains(idle) && !quiet.contains(undeclared),
                "{quiet}"
            );
            let bare = say(&locale, none(), 0);
            assert!(bare.contains(undeclared) && !bare.contains(idle), "{bare}");
        }
        assert!(say(&zh, fired(), 5).contains(">高</span>"));
    }
}
