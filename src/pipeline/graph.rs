//! What reads what: the pipeline's nodes and edges, as text or Graphviz.

use std::collections::BTreeSet;

/// One dependency: `to` (a node of kind `to_kind`) reads table `from`. A
/// report may share a table's name, so a node is its kind and its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub to_kind: &'static str,
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
                to_kind: "source",
            });
        }
    }
    for m in &p.models {
        nodes.push(("model", m.name.clone()));
        for d in &m.depends_on {
            edges.insert(Edge {
                from: d.clone(),
                to: m.name.clone(),
                to_kind: "model",
            });
        }
    }
    for r in &p.reports {
        nodes.push(("report", r.name.clone()));
        for t in r.table_names() {
            edges.insert(Edge {
                from: t.to_string(),
                to: r.name.clone(),
                to_kind: "report",
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
            .filter(|e| &e.to == name && e.to_kind == *kind)
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
        // Reports are their own nodes, even when one shares a table's name.
        let id = node_id(kind, name);
        out.push_str(&format!("  \"{id}\" [shape={shape}, label=\"{name}\"];\n"));
    }
    for e in &edges {
        out.push_str(&format!(
            "  \"{}\" -> \"{}\";\n",
            e.from,
            node_id(e.to_kind, &e.to)
        ));
    }
    out.push_str("}\n");
    out
}

/// A node's id in DOT: a table by its name, a report as `report:name`.
fn node_id(kind: &str, name: &str) -> String {
    if kind == "report" {
        format!("report:{name}")
    } else {
        name.to_string()
    }
}
