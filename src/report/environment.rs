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

