//! Editions of one report (`locales: [en, zh-CN]`) read from their HTML:
//! the KPI tiles and the "what to act on" list of each, so that a test can
//! hold two editions to the same figures, and the text a reader sees, so
//! that it can look for codes no one translated. The e2e test renders the
//! editions; the small tests here check the readers on hand-written HTML.

/// The first `<tag …>` element holding `class="{class}"`, from `from` on:
/// its inner HTML and where it ends. Elements of that tag nested inside it
/// are counted, so the end is its own.
fn element<'a>(html: &'a str, tag: &str, class: &str, from: usize) -> Option<(&'a str, usize)> {
    let open = format!("<{tag} class=\"{class}\"");
    let start = html[from..].find(&open)? + from;
    let body = html[start..].find('>')? + start + 1;
    let (opening, closing) = (format!("<{tag}"), format!("</{tag}>"));
    let (mut depth, mut at) = (1, body);
    while depth > 0 {
        let next_open = html[at..].find(&opening).map(|i| i + at);
        let next_close = html[at..].find(&closing)? + at;
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                at = o + opening.len();
            }
            _ => {
                depth -= 1;
                at = next_close + closing.len();
            }
        }
    }
    Some((&html[body..at - closing.len()], at))
}

/// Every element `<tag class="{class}">` in order: their inner HTML.
fn elements<'a>(html: &'a str, tag: &str, class: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some((inner, end)) = element(html, tag, class, from) {
        out.push(inner);
        from = end;
    }
    out
}

/// Markup removed, the few entities a report writes decoded.
pub fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The numbers in a text as written (`1,234.5`, `-0.3`, `+12`; a minus
/// sign − read as `-`), in order.
pub fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c == '−' { '-' } else { c })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || (matches!(chars[j], ',' | '.')
                        && chars.get(j + 1).is_some_and(char::is_ascii_digit)))
            {
                j += 1;
            }
            let sign = match i.checked_sub(1).map(|k| chars[k]) {
                Some('-') => "-",
                Some('+') => "+",
                _ => "",
            };
            out.push(format!("{sign}{}", chars[i..j].iter().collect::<String>()));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// An amount of money as either edition writes it (`HKD 241.6M`,
/// `HKD 45,210`, `241.64亿 HKD`, `4,521.3万 HKD`): its value and half the
/// step of its last digit (how far rounding may have moved it).
pub fn money(text: &str) -> Option<(f64, f64)> {
    let n = numbers(text).into_iter().next()?;
    let digits = n.split_once('.').map_or(0, |(_, f)| f.len());
    let after = text.split(n.as_str()).nth(1).unwrap_or("");
    let unit = match after.chars().next() {
        Some('M') => 1e6,
        Some('亿') => 1e8,
        Some('万') => 1e4,
        _ => 1.0,
    };
    let x: f64 = n.replace(',', "").parse().ok()?;
    Some((x * unit, 0.5 * unit / 10f64.powi(digits as i32)))
}

/// One KPI tile: its value as shown and the numbers of its changes.
#[derive(Debug)]
pub struct Tile {
    pub value: String,
    pub changes: Vec<String>,
}

pub fn tiles(html: &str) -> Vec<Tile> {
    elements(html, "div", "tile")
        .into_iter()
        .map(|t| Tile {
            value: elements(t, "div", "value")
                .first()
                .map(|v| text(v).trim().to_string())
                .unwrap_or_default(),
            changes: elements(t, "div", "delta")
                .first()
                .map(|d| numbers(&text(d)))
                .unwrap_or_default(),
        })
        .collect()
}

/// One line of "what to act on": its priority and the numbers it states
/// (sorted: a translation may put them in another order).
#[derive(Debug, PartialEq)]
pub struct Action {
    pub priority: String,
    pub numbers: Vec<String>,
}

pub fn actions(html: &str) -> Vec<Action> {
    let Some(list) = elements(html, "ul", "actions").into_iter().next() else {
        return Vec::new();
    };
    list.split("<li>")
        .skip(1)
        .map(|li| {
            let priority = li
                .split("class=\"prio ")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .unwrap_or_default()
                .to_string();
            // The rule's text, without the priority badge and the table flag.
            let said = li.split("</span>").nth(1).unwrap_or_default();
            let mut numbers = numbers(&text(said));
            numbers.sort();
            Action { priority, numbers }
        })
        .collect()
}

/// Two editions state the same figures: as many tiles with the same
/// numbers (money within its rounding), and the same actions, by priority,
/// with the same numbers.
pub fn same_figures(en: &str, other: &str) {
    let (a, b) = (tiles(en), tiles(other));
    assert!(!a.is_empty(), "no KPI tiles in the default edition");
    assert_eq!(a.len(), b.len(), "tiles: {a:?} / {b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.changes, y.changes, "tile changes: {x:?} / {y:?}");
        match (money(&x.value), money(&y.value)) {
            (Some((p, dp)), Some((q, dq))) if x.value.contains("HKD") => assert!(
                (p - q).abs() <= dp + dq,
                "tile money: {} / {}",
                x.value,
                y.value
            ),
            _ => assert_eq!(
                numbers(&x.value),
                numbers(&y.value),
                "tile value: {x:?} / {y:?}"
            ),
        }
    }
    assert_eq!(actions(en), actions(other), "what to act on");
}

/// The text a reader of the page meets: what is drawn and written, chart
/// titles and text alternatives; not the style sheet, not the footer
/// (table and source names), not survey comments (the customers' words).
pub fn visible(dom: &str) -> String {
    let mut html = dom.to_string();
    for (open, close) in [
        ("<style", "</style>"),
        ("<footer", "</footer>"),
        ("<td class=\"comment\"", "</td>"),
    ] {
        while let Some(i) = html.find(open) {
            let Some(j) = html[i..].find(close) else {
                break;
            };
            html.replace_range(i..i + j + close.len(), " ");
        }
    }
    let mut labels = String::new();
    for part in html.split("aria-label=\"").skip(1) {
        labels.push_str(part.split('"').next().unwrap_or_default());
        labels.push('\n');
    }
    format!("{}\n{}", text(&html), text(&labels))
}

/// The text of the charts alone (`<svg>` … `</svg>`): drawn labels,
/// titles and text alternatives.
pub fn charts(dom: &str) -> String {
    dom.split("<svg")
        .skip(1)
        .map(|svg| {
            visible(&format!(
                "<svg{}",
                svg.split("</svg>").next().unwrap_or_default()
            ))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The codes of `codes` that stand as words in `text` (not inside a longer
/// word or name: `atm` is not found in `atm_transfers`).
pub fn codes_in<'a>(text: &str, codes: &'a [String]) -> Vec<&'a str> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    codes
        .iter()
        .filter(|code| {
            text.match_indices(code.as_str()).any(|(i, m)| {
                !text[..i].chars().next_back().is_some_and(word)
                    && !text[i + m.len()..].chars().next().is_some_and(word)
            })
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: &str = r#"<div class="tiles">
      <div class="tile"><div class="label">Customers</div><div class="value">1,234</div>
        <div class="delta"><span class="good">+1.5</span> MoM · <span>–</span> YoY</div><svg class="sparkline"></svg></div>
      <div class="tile"><div class="label">Balance</div><div class="value">HKD 241.6M</div>
        <div class="delta"><span class="bad">−0.3%</span> MoM · <span>+2.0%</span> YoY</div></div>
    </div>
    <ul class="actions"><li><span class="prio high">high</span>Branch B01: wait 30.40 min (threshold 30) <span class="flag">(service_alerts)</span></li><li><span class="prio medium">medium</span>NPS in online is negative (-31.56) <span class="flag">(t)</span></li></ul>"#;

    #[test]
    fn reads_tiles_and_actions() {
        let t = tiles(EN);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].value, "1,234");
        assert_eq!(t[0].changes, ["+1.5"]);
        assert_eq!(t[1].changes, ["-0.3", "+2.0"]);
        let a = actions(EN);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].priority, "high");
        assert_eq!(a[0].numbers, ["01", "30", "30.40"]);
        assert_eq!(a[1].numbers, ["-31.56"]);
    }

    #[test]
    fn money_in_either_language() {
        assert_eq!(money("HKD 241.6M"), Some((241.6e6, 0.05e6)));
        let (x, d) = money("241.64亿 HKD").expect("亿");
        assert!((x - 241.64e8).abs() < 1.0 && (d - 0.5e6).abs() < 1e-6);
        assert_eq!(money("4,521.3万 HKD"), Some((4521.3e4, 500.0)));
        assert_eq!(money("HKD 45,210"), Some((45210.0, 0.5)));
    }

    /// The comparison fails on editions that disagree: a missing action,
    /// another number, a money value off by more than its rounding.
    #[test]
    fn editions_that_differ_are_caught() {
        let zh = EN
            .replace("HKD 241.6M", "2.42亿 HKD")
            .replace("NPS in online is negative", "网上银行的 NPS 为负");
        same_figures(EN, &zh);
        let differ = |other: String| std::panic::catch_unwind(|| same_figures(EN, &other)).is_err();
        assert!(differ(zh.replace("(-31.56)", "(-31.57)")));
        assert!(differ(zh.replace("2.42亿 HKD", "2.44亿 HKD")));
        let no_actions = zh
            .split("<ul class=\"actions\">")
            .next()
            .unwrap_or_default();
        assert!(differ(format!("{no_actions}<p>本月没有触发任何规则。</p>")));
    }

    #[test]
    fn finds_codes_standing_as_words() {
        let codes = ["atm", "online", "Premier"].map(String::from);
        let dom = r#"<style>.atm{}</style><p>网点 atm_visits online.</p><svg aria-label="Premier: 3"></svg>
          <td class="comment">the atm ate my card</td><footer>atm 最新</footer>"#;
        let seen = visible(dom);
        assert_eq!(codes_in(&seen, &codes), ["online", "Premier"], "{seen}");
        let drawn = charts(r#"<p>min</p><svg aria-label="NPS: online 3"><text>max 3</text></svg>"#);
        assert!(
            drawn.contains("NPS: online 3") && drawn.contains("max 3") && !drawn.contains("min")
        );
    }
}
