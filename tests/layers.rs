//! The module layout keeps its shape: no import circle across top-level
//! modules (each layer uses only those below it), and no source file over
//! 700 lines (tests at the bottom of a file do not count).
//!
//! `cargo test --test layers -- --nocapture` prints the layers, top first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`src/sources/x.rs` → `sources`).
fn top(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The code of a file without its comments and its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules a file names: `crate::x` anywhere, and the items of a
/// `use crate::{x, y::z}` group.
fn uses(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            for part in inner.split(',') {
                let name = part.trim().split("::").next().unwrap_or_default();
                if modules.contains(name) {
                    out.insert(name.to_string());
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if modules.contains(&name) {
            out.insert(name);
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top(f)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for f in &files {
        let Some(m) = top(f) else { continue };
        let text = std::fs::read_to_string(f).expect("read");
        for used in uses(&code(&text), &modules) {
            if used != m {
                g.entry(m.clone()).or_default().insert(used);
            }
        }
    }
    g
}

/// One import circle, if there is any.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|x| x == n).unwrap_or(0);
                let mut c = stack[at..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn top_level_modules_form_layers() {
    let g = graph();
    if let Some(c) = circle(&g) {
        let why: Vec<String> = c
            .windows(2)
            .map(|w| format!("{} uses {}", w[0], w[1]))
            .collect();
        panic!("import circle: {}\n  {}", c.join(" → "), why.join("\n  "));
    }
    // Layers: a module's layer is one above the highest it uses.
    let mut layer: BTreeMap<&str, usize> = BTreeMap::new();
    while layer.len() < g.len() {
        for (m, deps) in &g {
            if layer.contains_key(m.as_str()) {
                continue;
            }
            if deps.iter().all(|d| layer.contains_key(d.as_str())) {
                let l = deps
                    .iter()
                    .map(|d| layer[d.as_str()] + 1)
                    .max()
                    .unwrap_or(0);
                layer.insert(m, l);
            }
        }
    }
    let top = layer.values().copied().max().unwrap_or(0);
    for l in (0..=top).rev() {
        let names: Vec<&str> = layer
            .iter()
            .filter(|(_, v)| **v == l)
            .map(|(k, _)| *k)
            .collect();
        println!("layer {l}: {}", names.join(", "));
        for n in names {
            let deps: Vec<&str> = g[n].iter().map(String::as_str).collect();
            println!("    {n} → {}", deps.join(", "));
        }
    }
}

#[test]
fn no_source_file_is_too_long() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            let body = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => &text[..i],
                None => &text,
            };
            let n = body.lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concept): {}",
        long.join(", ")
    );
}

#[test]
fn the_check_sees_circles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(circle(&g).expect("circle"), ["a", "b", "c", "a"]);
    let modules: BTreeSet<String> = ["sources", "spec"].map(String::from).into();
    assert_eq!(
        uses(
            "use crate::{sources::Source, spec::Diags};\nlet x = crate::spec::slug(y);",
            &modules
        ),
        modules
    );
}
