//! Limits on a pipeline file before anything builds values from it: its
//! size, how deep it nests, and how many nodes its aliases expand to. A
//! 190 KB "billion laughs" of aliases, or 20,000 nesting levels, would
//! otherwise exhaust memory or the stack; here they are a located error.

use yaml_rust2::parser::{Event, Parser};

/// A pipeline file larger than this is not a pipeline.
pub const MAX_BYTES: usize = 8 << 20;
/// Mappings and sequences inside each other.
pub const MAX_DEPTH: usize = 64;
/// Nodes once every alias is expanded (a large pipeline has a few thousand).
pub const MAX_NODES: u64 = 1_000_000;

/// What is wrong, and where (line, column) if known.
pub type Problem = (String, Option<(usize, usize)>);

/// Check `text` with the event parser (no recursion, nothing built).
/// Syntax errors are left to the real parse, which words them better.
pub fn check(text: &str) -> Result<(), Problem> {
    if text.len() > MAX_BYTES {
        return Err((
            format!(
                "the pipeline file is {} bytes, over the {MAX_BYTES}-byte limit",
                text.len()
            ),
            None,
        ));
    }
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    let mut nodes = 0u64;
    // Expanded size of each anchor, and the collections being read: their
    // anchor and the node count when they started.
    let mut sizes: std::collections::HashMap<usize, u64> = Default::default();
    let mut open: Vec<(usize, u64)> = Vec::new();
    loop {
        let Ok((event, mark)) = parser.next_token() else {
            return Ok(());
        };
        let at = Some((mark.line(), mark.col() + 1));
        match event {
            Event::StreamEnd => return Ok(()),
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                depth += 1;
                nodes += 1;
                if depth > MAX_DEPTH {
                    return Err((format!("the YAML nests deeper than {MAX_DEPTH} levels"), at));
                }
                open.push((anchor, nodes));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                depth = depth.saturating_sub(1);
                if let Some((anchor, start)) = open.pop()
                    && anchor > 0
                {
                    sizes.insert(anchor, nodes - start + 1);
                }
            }
            Event::Scalar(_, _, anchor, _) => {
                nodes += 1;
                if anchor > 0 {
                    sizes.insert(anchor, 1);
                }
            }
            Event::Alias(anchor) => {
                nodes = nodes.saturating_add(sizes.get(&anchor).copied().unwrap_or(1));
            }
            _ => {}
        }
        if nodes > MAX_NODES {
            return Err((
                format!("the YAML expands to more than {MAX_NODES} nodes (aliases of aliases?)"),
                at,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_bomb_is_refused_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (msg, at) = check(&text).expect_err("bomb");
        assert!(msg.contains("expands"), "{msg}");
        assert!(at.is_some());
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        // `- - - … x`: block sequences inside each other, 20,000 deep.
        let block = format!("{}x\n", "- ".repeat(20_000));
        let (msg, _) = check(&block).expect_err("deep");
        assert!(msg.contains("nests deeper"), "{msg}");
        // Flow nesting the scanner itself refuses; the whole parse then
        // fails with a located error, not a crash.
        let flow = format!("name: x\nx: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
        let parsed = crate::pipeline::spec::parse(std::path::Path::new("p.yaml"), &flow);
        assert!(parsed.is_err());
    }

    #[test]
    fn ordinary_pipelines_pass() {
        let shipped = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/monthly_cx.yaml"),
        )
        .expect("read");
        assert_eq!(check(&shipped), Ok(()));
        assert_eq!(check("a: &x {b: 1}\nc: *x\n"), Ok(()));
        assert_eq!(
            check("not: [valid"),
            Ok(()),
            "syntax errors are the parser's"
        );
    }
}
