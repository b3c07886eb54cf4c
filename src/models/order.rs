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
