//! Model dependency order: a topological sort that names a cycle when there is one.

use std::collections::{BTreeMap, BTreeSet};

/// Order `nodes` so every node comes after the nodes it depends on (only
/// dependencies that are themselves nodes count). Ties keep declared order.
/// On a cycle, returns the nodes of one cycle in order.
pub fn order(nodes: &[(String, Vec<String>)]) -> Result<Vec<String>, Vec<String>> {
    let names: BTreeSet<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
    let deps: BTreeMap<&str, Vec<&str>> = nodes
        .iter()
        .map(|(n, d)| {
            (
                n.as_str(),
                d.iter()
                    .map(String::as_str)
                    .filter(|x| names.contains(x) && x != n)
                    .collect(),
            )
        })
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 visiting, 2 done
    fn visit<'a>(
        n: &'a str,
        deps: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        done: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = stack.iter().position(|x| *x == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Err(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, state, stack, done)?;
        }
        stack.pop();
        state.insert(n, 2);
        done.push(n.to_string());
        Ok(())
    }
    for (n, _) in nodes {
        visit(n, &deps, &mut state, &mut Vec::new(), &mut done)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str, deps: &[&str]) -> (String, Vec<String>) {
        (name.into(), deps.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn orders_dependencies_first() {
        let o = order(&[n("c", &["b", "src"]), n("a", &[]), n("b", &["a"])]).expect("acyclic");
        assert_eq!(o, vec!["a", "b", "c"]);
    }

    #[test]
    fn names_the_cycle() {
        let cycle = order(&[n("a", &["b"]), n("b", &["c"]), n("c", &["a"])]).expect_err("cycle");
        assert_eq!(cycle, vec!["a", "b", "c", "a"]);
    }
}

/// One dependency: `to` reads `from`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

/// The pipeline's nodes as (kind, name) — seeds, sources, models in run
/// order, reports — and every edge: a source's `references`, the tables a
/// model's SQL reads, the tables a report declares.
pub fn edges(p: &super::Pipeline) -> (Vec<(&'static str, String)>, Vec<Edge>) {
    let mut nodes = Vec::new();
    let mut edges = BTreeSet::new();
    for s in &p.seeds {
        nodes.push(("seed", s.name.clone()));
    }
    for s in &p.sources {
        nodes.push(("source", s.name.clone()));
        for r in s.references() {
            edges.insert(Edge {
                from: r.to_string(),
                to: s.name.clone(),
            });
        }
    }
    for m in &p.models {
        nodes.push(("model", m.name.clone()));
        for d in &m.depends_on {
            edges.insert(Edge {
                from: d.clone(),
                to: m.name.clone(),
            });
        }
    }
    for r in &p.reports {
        nodes.push(("report", r.name.clone()));
        for t in &r.tables {
            edges.insert(Edge {
                from: t.clone(),
                to: r.name.clone(),
            });
        }
    }
    (nodes, edges.into_iter().collect())
}

/// Plain text: each node in run order with what it reads.
pub fn text(p: &super::Pipeline) -> String {
    let (nodes, edges) = edges(p);
    let mut out = String::new();
    for (kind, name) in &nodes {
        let reads: Vec<&str> = edges
            .iter()
            .filter(|e| &e.to == name)
            .map(|e| e.from.as_str())
            .collect();
        if reads.is_empty() {
            out.push_str(&format!("{kind:<6} {name}\n"));
        } else {
            out.push_str(&format!("{kind:<6} {name} ← {}\n", reads.join(", ")));
        }
    }
    out
}

/// Graphviz DOT (`touchpoint graph --dot | dot -Tsvg > graph.svg`).
pub fn dot(p: &super::Pipeline) -> String {
    let (nodes, edges) = edges(p);
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
        p.name
    );
    for (kind, name) in &nodes {
        let shape = match *kind {
            "seed" => "note",
            "source" => "cylinder",
            "report" => "tab",
            _ => "box",
        };
        out.push_str(&format!("  \"{name}\" [shape={shape}];\n"));
    }
    for e in &edges {
        out.push_str(&format!("  \"{}\" -> \"{}\";\n", e.from, e.to));
    }
    out.push_str("}\n");
    out
}
