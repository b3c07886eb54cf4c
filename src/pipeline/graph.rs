//! What reads what: the pipeline's nodes and edges, as text or Graphviz.

use std::collections::BTreeSet;

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
        for t in r.table_names() {
            edges.insert(Edge {
                from: t.to_string(),
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
