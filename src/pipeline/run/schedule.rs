//! Which source loads may be planned and started while others run.
//!
//! The order a run means is period by period, and within a period wave by
//! wave (a source after the sources it `references`). Running it that way
//! makes every load of a period wait for the slowest one, so the scheduler
//! lets each source run ahead on its own periods and holds back only what
//! the order forbids:
//! - a source's loads run one at a time, in period order (one writer per
//!   table, and a load reads the keys its earlier periods left);
//! - a load's reference sets are read when it is planned, so it is planned
//!   only when each source it references has finished exactly the loads
//!   that come before it in the order, and such a source starts its next
//!   load only after every load that must not see it has been planned.
//!
//! So every load checks its references against the same rows as in the
//! period-by-period order, whatever the timing.

/// The state of one run's source loads; a source is an index into the
/// slice given to [`Schedule::new`], a load is (source, period index).
#[derive(Debug)]
pub(super) struct Schedule {
    periods: usize,
    wave: Vec<usize>,
    /// Per source: the other sources of the set it references.
    refs: Vec<Vec<usize>>,
    /// Per source: the sources of the set referencing it.
    referenced_by: Vec<Vec<usize>>,
    /// Per source: loads planned (or found to have nothing to read).
    planned: Vec<usize>,
    /// Per source: loads finished (or skipped).
    finished: Vec<usize>,
    running: Vec<bool>,
}

impl Schedule {
    /// `sources` are (name, names it references); references outside the
    /// set (already loaded) and to itself are ignored.
    pub(super) fn new(sources: &[(&str, Vec<&str>)], periods: usize) -> Self {
        let n = sources.len();
        let index = |name: &str| sources.iter().position(|(s, _)| *s == name);
        let refs: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let mut r: Vec<usize> = sources[i]
                    .1
                    .iter()
                    .filter_map(|name| index(name))
                    .filter(|&j| j != i)
                    .collect();
                r.sort_unstable();
                r.dedup();
                r
            })
            .collect();
        let mut referenced_by = vec![Vec::new(); n];
        for (i, r) in refs.iter().enumerate() {
            for &j in r {
                referenced_by[j].push(i);
            }
        }
        Schedule {
            periods,
            wave: waves(&refs),
            refs,
            referenced_by,
            planned: vec![0; n],
            finished: vec![0; n],
            running: vec![false; n],
        }
    }

    /// How many of `y`'s loads come before load `i` of `x` in the order.
    fn before(&self, x: usize, i: usize, y: usize) -> usize {
        i + usize::from(self.wave[y] < self.wave[x])
    }

    /// The period index of `x`'s next load to plan.
    pub(super) fn next(&self, x: usize) -> usize {
        self.planned[x]
    }

    /// Sources whose next load may be planned now.
    pub(super) fn plannable(&self) -> Vec<usize> {
        (0..self.wave.len())
            .filter(|&x| {
                let i = self.planned[x];
                i < self.periods
                    && self.finished[x] == i
                    && !self.running[x]
                    && self.refs[x].iter().all(|&y| {
                        // The start rule keeps y from passing this count.
                        self.finished[y] >= self.before(x, i, y)
                    })
            })
            .collect()
    }

    /// `x`'s next load is planned: it may start once [`Self::may_start`].
    pub(super) fn planned(&mut self, x: usize) {
        self.planned[x] += 1;
    }

    /// `x`'s next load had nothing to read: planned and finished at once.
    pub(super) fn skipped(&mut self, x: usize) {
        self.planned[x] += 1;
        self.finished[x] += 1;
    }

    /// Whether `x`'s planned load may start: every load that must check its
    /// references against `x` as it is now has been planned.
    pub(super) fn may_start(&self, x: usize) -> bool {
        let i = self.finished[x];
        !self.running[x]
            && self.planned[x] == i + 1
            && self.referenced_by[x].iter().all(|&z| {
                // z's loads with `before(z, j, x) <= i` see x before this load.
                let need = (i + 1).saturating_sub(usize::from(self.wave[x] < self.wave[z]));
                self.planned[z] >= need.min(self.periods)
            })
    }

    pub(super) fn started(&mut self, x: usize) {
        self.running[x] = true;
    }

    pub(super) fn finished(&mut self, x: usize) {
        self.running[x] = false;
        self.finished[x] += 1;
    }

    /// Every load of every source has finished.
    pub(super) fn done(&self) -> bool {
        self.finished.iter().all(|&f| f == self.periods)
    }
}

/// Each source's wave: after every source it references; sources in a
/// circle of references take waves one at a time, in the given order.
fn waves(refs: &[Vec<usize>]) -> Vec<usize> {
    let n = refs.len();
    let mut wave = vec![usize::MAX; n];
    let mut w = 0;
    while wave.contains(&usize::MAX) {
        let ready: Vec<usize> = (0..n)
            .filter(|&i| wave[i] == usize::MAX && refs[i].iter().all(|&j| wave[j] < w))
            .collect();
        if ready.is_empty() {
            for slot in wave.iter_mut().filter(|v| **v == usize::MAX) {
                *slot = w;
                w += 1;
            }
            break;
        }
        for i in ready {
            wave[i] = w;
        }
        w += 1;
    }
    wave
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Run a schedule to the end, choosing among the allowed moves with a
    /// small deterministic generator (some loads have nothing to read and
    /// are skipped). At each plan, every referenced source must have
    /// written exactly the loads that come before this one in the
    /// period-by-period order, listed here, and none may be writing.
    fn drive(sources: &[(&str, Vec<&str>)], periods: usize, seed: u64, slots: usize) {
        let mut s = Schedule::new(sources, periods);
        let mut order: Vec<(usize, usize, usize)> = (0..periods)
            .flat_map(|p| (0..sources.len()).map(move |x| (p, x)))
            .map(|(p, x)| (p, s.wave[x], x))
            .collect();
        order.sort_unstable();
        let mut rng = seed;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as usize
        };
        // (source, period) → whether the load wrote (false: skipped).
        let mut wrote: HashMap<(usize, usize), bool> = HashMap::new();
        let mut written = vec![0; sources.len()];
        let mut running: Vec<usize> = Vec::new();
        for _ in 0..10_000 {
            while let Some(x) = s.plannable().first().copied() {
                let i = s.next(x);
                let pos = order
                    .iter()
                    .position(|&(p, _, y)| p == i && y == x)
                    .expect("every load is in the order");
                for &y in &s.refs[x] {
                    let want = order[..pos]
                        .iter()
                        .filter(|&&(p, _, z)| z == y && wrote[&(y, p)])
                        .count();
                    let (a, b) = (sources[x].0, sources[y].0);
                    assert_eq!(written[y], want, "{a} {i} sees {b}");
                    assert!(!s.running[y], "{a} {i} planned while {b} writes");
                }
                let skip = next() % 5 == 0;
                wrote.insert((x, i), !skip);
                if skip {
                    s.skipped(x);
                } else {
                    s.planned(x);
                }
            }
            if s.done() {
                assert!(running.is_empty());
                return;
            }
            let startable: Vec<usize> = (0..sources.len()).filter(|&x| s.may_start(x)).collect();
            let start = running.is_empty() || next() % 2 == 0;
            if running.len() < slots && !startable.is_empty() && start {
                let x = startable[next() % startable.len()];
                s.started(x);
                running.push(x);
            } else {
                assert!(!running.is_empty(), "stuck: {s:?}");
                let x = running.swap_remove(next() % running.len());
                s.finished(x);
                written[x] += 1;
            }
        }
        panic!("no end: {s:?}");
    }

    #[test]
    fn loads_see_their_references_as_in_period_order() {
        let chain = [
            ("customers", vec![]),
            ("atm", vec!["customers", "branches"]),
            ("branches", vec![]),
            ("surveys", vec!["atm", "customers", "surveys"]),
            ("calls", vec![]),
        ];
        // A circle: each references the other.
        let circle = [("a", vec!["b"]), ("b", vec!["a"]), ("c", vec!["a"])];
        for seed in 0..200 {
            for slots in [1, 2, 3] {
                drive(&chain, 4, seed, slots);
                drive(&circle, 3, seed, slots);
                drive(&chain[..1], 1, seed, slots);
            }
        }
    }

    #[test]
    fn independent_sources_run_ahead() {
        let s0 = [("big", vec![]), ("small", vec![])];
        let mut s = Schedule::new(&s0, 3);
        s.planned(0);
        s.planned(1);
        s.started(0);
        s.started(1);
        s.finished(1);
        // small's next period does not wait for big's current one.
        assert_eq!(s.plannable(), vec![1]);
        s.planned(1);
        assert!(s.may_start(1));
        // A referencing source waits for its reference's period to finish,
        // and the reference waits for it to be planned before going on.
        let r = [("keys", vec![]), ("facts", vec!["keys"])];
        let mut s = Schedule::new(&r, 2);
        assert_eq!(s.plannable(), vec![0]);
        s.planned(0);
        s.started(0);
        s.finished(0);
        assert_eq!(s.plannable(), vec![0, 1]);
        s.planned(0);
        assert!(
            !s.may_start(0),
            "keys' period 2 must wait for facts' period 1 plan"
        );
        s.planned(1);
        assert!(s.may_start(0) && s.may_start(1));
    }
}
