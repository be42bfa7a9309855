//! Dependency graphs over indices: stable topological order and cycle paths.
//!
//! Used for tasks (`dependencies`) and for groups (`after`). Node `i` depends
//! on every node in `deps[i]`, so a dependency comes first in the order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// A topological order that keeps file order wherever the edges allow it
/// (Kahn's algorithm taking the lowest ready index first), or the cycles that
/// prevent one.
pub fn topo_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<Vec<usize>>> {
    let n = deps.len();
    let mut indegree = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for (node, node_deps) in deps.iter().enumerate() {
        for &d in node_deps {
            indegree[node] += 1;
            dependents[d].push(node);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for &next in &dependents[node] {
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err(cycles(deps))
    }
}

/// Every distinct cycle met by a depth-first walk, each as a closed path
/// `[a, b, …, a]` read "a depends on b depends on … a".
pub fn cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let n = deps.len();
    let mut mark = vec![Mark::New; n];
    let mut found: Vec<Vec<usize>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<usize>> = BTreeSet::new();
    for start in 0..n {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge index); `path` mirrors the stack.
        let mut stack = vec![(start, 0usize)];
        let mut path = vec![start];
        mark[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&next) = deps[node].get(*edge) {
                *edge += 1;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::OnStack;
                        stack.push((next, 0));
                        path.push(next);
                    }
                    Mark::OnStack => {
                        let from = path.iter().position(|&p| p == next).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[from..].to_vec();
                        let mut key = cycle.clone();
                        key.sort_unstable();
                        if seen_sets.insert(key) {
                            cycle.push(next);
                            found.push(cycle);
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
                path.pop();
            }
        }
    }
    found
}

/// Every node reachable from `start` by following `deps` (excluding `start`
/// unless it lies on a cycle through itself).
pub fn reachable(deps: &[Vec<usize>], start: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<usize> = deps[start].clone();
    while let Some(node) = todo.pop() {
        if seen.insert(node) {
            todo.extend(deps[node].iter().copied());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_file_order_when_free() {
        assert_eq!(
            topo_order(&[vec![], vec![], vec![]]).unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(
            topo_order(&[vec![2], vec![], vec![]]).unwrap(),
            vec![1, 2, 0]
        );
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        assert_eq!(topo_order(&[vec![0]]).unwrap_err(), vec![vec![0, 0]]);
    }

    #[test]
    fn reports_cycle_path() {
        let err = topo_order(&[vec![], vec![2], vec![1]]).unwrap_err();
        assert_eq!(err, vec![vec![1, 2, 1]]);
    }

    #[test]
    fn reports_independent_cycles() {
        let err = topo_order(&[vec![1], vec![0], vec![3], vec![2]]).unwrap_err();
        assert_eq!(err.len(), 2);
    }

    /// A random DAG: node i may only depend on lower indices, then shuffled
    /// labels so the order is not trivially the identity.
    fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
        (2usize..40).prop_flat_map(|n| {
            let edges = proptest::collection::vec((0..n, 0..n), 0..n * 3);
            (
                Just(n),
                edges,
                Just(()).prop_perturb(move |_, mut rng| {
                    let mut labels: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        let j = (rng.next_u32() as usize) % (i + 1);
                        labels.swap(i, j);
                    }
                    labels
                }),
            )
                .prop_map(|(n, edges, labels)| {
                    let mut deps = vec![Vec::new(); n];
                    for (a, b) in edges {
                        let (hi, lo) = if a > b {
                            (a, b)
                        } else if b > a {
                            (b, a)
                        } else {
                            continue;
                        };
                        let (node, dep) = (labels[hi], labels[lo]);
                        if !deps[node].contains(&dep) {
                            deps[node].push(dep);
                        }
                    }
                    deps
                })
        })
    }

    proptest! {
        #[test]
        fn order_respects_every_edge(deps in dag()) {
            let order = topo_order(&deps).expect("a DAG has an order");
            prop_assert_eq!(order.len(), deps.len());
            let mut pos = vec![0; deps.len()];
            for (i, &node) in order.iter().enumerate() { pos[node] = i; }
            for (node, ds) in deps.iter().enumerate() {
                for &d in ds { prop_assert!(pos[d] < pos[node], "{d} must precede {node}"); }
            }
        }

        #[test]
        fn one_back_edge_is_rejected(deps in dag(), pick in any::<prop::sample::Index>()) {
            // Choose an existing edge node -> dep and add dep -> node: now a cycle.
            let edges: Vec<(usize, usize)> = deps.iter().enumerate()
                .flat_map(|(n, ds)| ds.iter().map(move |&d| (n, d))).collect();
            prop_assume!(!edges.is_empty());
            let (node, dep) = edges[pick.index(edges.len())];
            let mut cyclic = deps.clone();
            cyclic[dep].push(node);
            let cycles = topo_order(&cyclic).expect_err("a back edge makes a cycle");
            prop_assert!(!cycles.is_empty());
            for c in &cycles {
                prop_assert_eq!(c.first(), c.last());
                for w in c.windows(2) { prop_assert!(cyclic[w[0]].contains(&w[1])); }
            }
        }
    }
}
