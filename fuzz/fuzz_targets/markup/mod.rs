//! What a chart may write: SVG whose tags the charts know, attributes in
//! double quotes, text with `<`, `>`, `&` and quotes as entities, tags that
//! balance, and coordinates that are numbers (a label that escaped its
//! escaping breaks one of these; so does a NaN or an infinity).

/// Tags the charts write.
const TAGS: [&str; 10] = [
    "svg", "title", "desc", "line", "text", "rect", "path", "circle", "polyline", "g",
];

/// Attributes that hold free text (the text alternative); the others are
/// numbers, colours and keywords.
const TEXT_ATTRS: [&str; 1] = ["aria-label"];

/// Every `&` starts an entity: `&amp;`, `&#39;`, `&#x27;` (the charts'
/// `esc` and minijinja's autoescape write these).
pub fn entities(s: &str) -> Result<(), String> {
    for (i, _) in s.match_indices('&') {
        let rest = &s[i + 1..];
        let end = rest.find(';').unwrap_or(rest.len());
        let name = &rest[..end];
        let ok = end < rest.len()
            && match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
                None => match name.strip_prefix('#') {
                    Some(dec) => !dec.is_empty() && dec.chars().all(|c| c.is_ascii_digit()),
                    None => ["amp", "lt", "gt", "quot", "apos"].contains(&name),
                },
            };
        if !ok {
            return Err(format!("a bare `&` at byte {i}"));
        }
    }
    Ok(())
}

/// `svg` is one well-formed chart.
pub fn svg(svg: &str) -> Result<(), String> {
    let svg = svg.trim();
    if !svg.starts_with("<svg") || !svg.ends_with("</svg>") {
        return Err("not one <svg> element".into());
    }
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            return text(rest);
        };
        text(&rest[..lt])?;
        rest = &rest[lt + 1..];
        let gt = rest.find('>').ok_or("a `<` that is not a tag")?;
        let tag = &rest[..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name => {}
                o => return Err(format!("</{name}> closes {o:?}")),
            }
            continue;
        }
        let (body, closed) = match tag.strip_suffix('/') {
            Some(b) => (b, true),
            None => (tag, false),
        };
        let name_end = body.find(' ').unwrap_or(body.len());
        let name = &body[..name_end];
        if !TAGS.contains(&name) {
            return Err(format!("unknown tag <{name}>"));
        }
        attributes(&body[name_end..])?;
        if !closed {
            open.push(name);
        }
    }
    match open.is_empty() {
        true => Ok(()),
        false => Err(format!("unclosed {open:?}")),
    }
}

/// Text between tags: entities only (`esc` turns `>` and quotes into them too).
fn text(s: &str) -> Result<(), String> {
    if s.contains(['>', '"']) {
        return Err(format!("unescaped text {s:?}"));
    }
    entities(s)
}

/// ` name="value" name="value"`.
fn attributes(mut s: &str) -> Result<(), String> {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s
            .find("=\"")
            .ok_or_else(|| format!("an attribute without a value: {s:?}"))?;
        let name = &s[..eq];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("a broken attribute name {name:?}"));
        }
        s = &s[eq + 2..];
        let end = s.find('"').ok_or("an unterminated attribute")?;
        let value = &s[..end];
        s = &s[end + 1..];
        if !s.is_empty() && !s.starts_with(' ') {
            return Err(format!("attribute {name} runs on into {s:?}"));
        }
        if value.contains(['<', '>']) {
            return Err(format!("unescaped attribute {name}={value:?}"));
        }
        entities(value)?;
        if !TEXT_ATTRS.contains(&name) {
            let lower = value.to_ascii_lowercase();
            if lower.contains("nan") || lower.contains("inf") {
                return Err(format!("attribute {name}={value:?} is not a number"));
            }
        }
    }
}
