//! The BG/NBD log-likelihood over many customers, and its gradient, at the
//! cost of distinct histories rather than customers.
//!
//! Histories are grouped by purchase count, and identical histories are
//! counted once: the gamma-function terms depend only on x, and customers
//! sharing (x, t_x, T) share every term. Counted in whole days (the `clv`
//! step's default) most customers share their history with many others,
//! and t_x and T take few distinct values, so ln(α + t) is computed once
//! per value and evaluation.

use super::bgnbd::{BgNbd, History};
use super::special::{digamma, log_add_weight};
use libm::lgamma;

pub(super) struct PreparedHistories {
    groups: Vec<SameX>,
    /// The distinct values of t_x and T, which histories index.
    times: Vec<f64>,
}

/// The customers with one purchase count x.
struct SameX {
    x: f64,
    customers: f64,
    /// (index of t_x, index of T, customers with that history)
    histories: Vec<(u32, u32, f64)>,
}

impl PreparedHistories {
    pub fn new(hs: &[History]) -> Self {
        let mut times: Vec<f64> = hs.iter().flat_map(|h| [h.t_x, h.t]).collect();
        times.sort_by(f64::total_cmp);
        times.dedup_by(|p, q| p.total_cmp(q).is_eq());
        let index = |v: f64| times.partition_point(|t| t.total_cmp(&v).is_lt()) as u32;
        let mut sorted: Vec<&History> = hs.iter().collect();
        sorted.sort_by(|p, q| {
            p.x.total_cmp(&q.x)
                .then(p.t_x.total_cmp(&q.t_x))
                .then(p.t.total_cmp(&q.t))
        });
        let mut groups: Vec<SameX> = Vec::new();
        for h in sorted {
            let (i_tx, i_t) = (index(h.t_x), index(h.t));
            match groups.last_mut() {
                Some(g) if g.x == h.x => {
                    g.customers += 1.0;
                    match g.histories.last_mut() {
                        Some((tx, t, w)) if *tx == i_tx && *t == i_t => *w += 1.0,
                        _ => g.histories.push((i_tx, i_t, 1.0)),
                    }
                }
                _ => groups.push(SameX {
                    x: h.x,
                    customers: 1.0,
                    histories: vec![(i_tx, i_t, 1.0)],
                }),
            }
        }
        PreparedHistories { groups, times }
    }

    /// Distinct (x, t_x, T) histories.
    pub fn distinct(&self) -> usize {
        self.groups.iter().map(|g| g.histories.len()).sum()
    }

    /// ln(α + t) for every distinct time.
    fn logs(&self, alpha: f64) -> Vec<f64> {
        self.times.iter().map(|t| (alpha + t).ln()).collect()
    }

    pub fn log_likelihood(&self, p: &BgNbd) -> f64 {
        let BgNbd { r, alpha, a, b } = *p;
        let ln_at = self.logs(alpha);
        let mut total = 0.0;
        let (ln_alpha, lg_r, lg_ab, lg_b) = (alpha.ln(), lgamma(r), lgamma(a + b), lgamma(b));
        for g in &self.groups {
            let x = g.x;
            let shared = lgamma(r + x) - lg_r + r * ln_alpha + lg_ab + lgamma(b + x)
                - lg_b
                - lgamma(a + b + x);
            let drop_term = if x > 0.0 {
                a.ln() - (b + x - 1.0).ln()
            } else {
                0.0
            };
            let mut sum = 0.0;
            for &(tx, t, w) in &g.histories {
                let a3 = -(r + x) * ln_at[t as usize];
                sum += w * if x > 0.0 {
                    log_add_weight(a3, drop_term - (r + x) * ln_at[tx as usize]).0
                } else {
                    a3
                };
            }
            total += shared * g.customers + sum;
        }
        total
    }

    /// The log-likelihood and its gradient in the parameters' logs
    /// (∂ℓ/∂ln θ = θ ∂ℓ/∂θ, in the order r, α, a, b). Per history the
    /// likelihood is A3 + A4 (alive at T; dropped after t_x) and `s` is
    /// A4's share of it:
    /// ∂/∂r = −(1−s) ln(α+T) − s ln(α+t_x), ∂/∂α = −(r+x)((1−s)/(α+T) + s/(α+t_x)),
    /// ∂/∂a = s/a, ∂/∂b = −s/(b+x−1); the shared terms add digammas.
    pub fn log_likelihood_and_gradient(&self, p: &BgNbd) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *p;
        let ln_at = self.logs(alpha);
        let inv_at: Vec<f64> = self.times.iter().map(|t| 1.0 / (alpha + t)).collect();
        let (ln_alpha, lg_r, lg_ab, lg_b) = (alpha.ln(), lgamma(r), lgamma(a + b), lgamma(b));
        let (dg_r, dg_ab, dg_b) = (digamma(r), digamma(a + b), digamma(b));
        let mut total = 0.0;
        let mut grad = [0.0; 4];
        for g in &self.groups {
            let (x, n) = (g.x, g.customers);
            let shared = lgamma(r + x) - lg_r + r * ln_alpha + lg_ab + lgamma(b + x)
                - lg_b
                - lgamma(a + b + x);
            let dg_abx = digamma(a + b + x);
            grad[0] += n * (digamma(r + x) - dg_r + ln_alpha);
            grad[1] += n * r / alpha;
            grad[2] += n * (dg_ab - dg_abx);
            grad[3] += n * (dg_ab + digamma(b + x) - dg_b - dg_abx);
            total += shared * n;
            if x > 0.0 {
                let drop_term = a.ln() - (b + x - 1.0).ln();
                // Σ w·(1−s)·ln(α+T) and so on, per group.
                let (mut sum, mut d_r, mut d_alpha, mut d_s) = (0.0, 0.0, 0.0, 0.0);
                for &(tx, t, w) in &g.histories {
                    let (tx, t) = (tx as usize, t as usize);
                    let a3 = -(r + x) * ln_at[t];
                    let a4 = drop_term - (r + x) * ln_at[tx];
                    let (v, s) = log_add_weight(a3, a4);
                    sum += w * v;
                    d_r += w * ((1.0 - s) * ln_at[t] + s * ln_at[tx]);
                    d_alpha += w * ((1.0 - s) * inv_at[t] + s * inv_at[tx]);
                    d_s += w * s;
                }
                total += sum;
                grad[0] -= d_r;
                grad[1] -= (r + x) * d_alpha;
                grad[2] += d_s / a;
                grad[3] -= d_s / (b + x - 1.0);
            } else {
                let (mut l, mut i) = (0.0, 0.0);
                for &(_, t, w) in &g.histories {
                    l += w * ln_at[t as usize];
                    i += w * inv_at[t as usize];
                }
                total -= (r + x) * l;
                grad[0] -= l;
                grad[1] -= (r + x) * i;
            }
        }
        let scale = [r, alpha, a, b];
        for (d, s) in grad.iter_mut().zip(scale) {
            *d *= s;
        }
        (total, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::analytics::bgnbd::tests::simulate;
    use crate::models::analytics::optimize::Method;
    use crate::models::analytics::optimize::checks::{gradient_matches, same_fit};

    fn day(w: f64) -> f64 {
        (w * 7.0).floor() / 7.0
    }

    /// Customers in whole days, as the `clv` step counts them.
    fn in_days(p: BgNbd, n: usize, weeks: f64, seed: u64) -> Vec<History> {
        simulate(p, n, weeks, seed)
            .into_iter()
            .map(|h| History {
                t_x: day(h.t_x),
                ..h
            })
            .collect()
    }

    const TRUTH: BgNbd = BgNbd {
        r: 0.5,
        alpha: 4.0,
        a: 0.8,
        b: 2.5,
    };
    const ELSEWHERE: BgNbd = BgNbd {
        r: 0.7,
        alpha: 3.0,
        a: 1.1,
        b: 2.0,
    };

    /// Counting identical histories once changes nothing but the cost: the
    /// likelihood equals the per-customer sum of the paper's formula, and
    /// histories in whole days collapse to a few distinct ones.
    #[test]
    fn identical_histories_are_counted_not_recomputed() {
        let hs = in_days(TRUTH, 20_000, 52.0, 3);
        let prepared = PreparedHistories::new(&hs);
        assert!(
            prepared.distinct() * 4 < hs.len(),
            "{} distinct of {}",
            prepared.distinct(),
            hs.len()
        );
        for params in [TRUTH, ELSEWHERE] {
            let each: f64 = hs.iter().map(|h| params.log_likelihood_one(h)).sum();
            for grouped in [
                prepared.log_likelihood(&params),
                prepared.log_likelihood_and_gradient(&params).0,
            ] {
                assert!(
                    (grouped - each).abs() <= 1e-9 * each.abs(),
                    "grouped {grouped} vs per customer {each}"
                );
            }
        }
        let fit = BgNbd::fit(&hs).expect("fit");
        assert_eq!(fit.distinct, prepared.distinct());
        assert_eq!(fit.customers, hs.len());
    }

    /// The analytic gradient against central differences of the
    /// per-customer formula (a second method), in the parameters' logs.
    #[test]
    fn gradient_matches_finite_differences_of_the_likelihood() {
        let hs = in_days(TRUTH, 3_000, 52.0, 5);
        let prepared = PreparedHistories::new(&hs);
        let each = |v: &[f64]| -> f64 {
            let p = BgNbd::from_logs(v);
            hs.iter().map(|h| p.log_likelihood_one(h)).sum()
        };
        for p in [TRUTH, ELSEWHERE] {
            let (_, grad) = prepared.log_likelihood_and_gradient(&p);
            let at = [p.r.ln(), p.alpha.ln(), p.a.ln(), p.b.ln()];
            gradient_matches(each, &at, &grad, &format!("{p:?}"));
        }
    }

    /// The gradient fit lands where the derivative-free one does, to 6
    /// significant digits, in far fewer evaluations.
    #[test]
    fn gradient_fit_agrees_with_nelder_mead() {
        let hs = in_days(TRUTH, 40_000, 78.0, 11);
        let fast = BgNbd::fit_with(&hs, Method::Gradient).expect("fit");
        let slow = BgNbd::fit_with(&hs, Method::Simplex).expect("fit");
        assert!(fast.converged && slow.converged, "{fast:?} {slow:?}");
        let (f, s) = (fast.params, slow.params);
        same_fit(
            &[
                ("r", f.r, s.r),
                ("alpha", f.alpha, s.alpha),
                ("a", f.a, s.a),
                ("b", f.b, s.b),
            ],
            (fast.evaluations, slow.evaluations),
        );
        assert!(fast.log_likelihood >= slow.log_likelihood - 1e-9 * slow.log_likelihood.abs());
    }
}
