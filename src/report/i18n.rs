//! Report labels in the report's language: templates write English
//! (`{{ t("Customers") }}`, `{{ t("NPS moved {change} points", change=x) }}`)
//! and the locale's catalog ([`super::locale`]) maps each English text to
//! its translation.

use minijinja::value::{Kwargs, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub type Catalog = Arc<HashMap<String, String>>;

/// `key` translated, with `{name}` filled from the keyword arguments.
pub fn translate(
    catalog: &Catalog,
    key: &str,
    kwargs: &Kwargs,
) -> Result<String, minijinja::Error> {
    let mut text = catalog.get(key).cloned().unwrap_or_else(|| key.to_string());
    for name in kwargs.args() {
        let v: Value = kwargs.get(name)?;
        let shown = if v.is_none() || v.is_undefined() {
            "–".to_string()
        } else {
            v.to_string()
        };
        text = text.replace(&format!("{{{name}}}"), &shown);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_and_fills() {
        let cat: Catalog = Arc::new(HashMap::from([(
            "NPS moved {change} points".to_string(),
            "NPS 变动 {change} 分".to_string(),
        )]));
        let kw = Kwargs::from_iter([("change", Value::from("+1.5"))]);
        assert_eq!(
            translate(&cat, "NPS moved {change} points", &kw).expect("translate"),
            "NPS 变动 +1.5 分"
        );
        let none = Kwargs::from_iter(std::iter::empty::<(&str, Value)>());
        assert_eq!(
            translate(&cat, "Customers", &none).expect("translate"),
            "Customers"
        );
    }
}
