//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV";
//! Hardie's note "The Gamma-Gamma model of monetary value"). A customer's
//! transaction amounts are Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; a customer is summarised by `x` transactions and their mean
//! amount `m`.

use super::optimize::{Method, bfgs_or_simplex, nelder_mead};
use super::special::digamma;
use libm::lgamma;

/// One customer's spend: `x` transactions (x >= 1) of mean amount `m` (> 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    pub x: f64,
    pub m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

#[derive(Debug, Clone)]
pub struct Fit {
    pub params: GammaGamma,
    pub log_likelihood: f64,
    pub customers: usize,
    pub evaluations: usize,
    pub converged: bool,
}

impl GammaGamma {
    /// ln f(m | x): Γ(px+q) / (Γ(px) Γ(q)) · γ^q m^(px-1) x^(px) / (γ + m x)^(px+q).
    pub fn log_likelihood_one(&self, s: &Spend) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let px = p * s.x;
        lgamma(px + q) - lgamma(px) - lgamma(q)
            + q * gamma.ln()
            + (px - 1.0) * s.m.ln()
            + px * s.x.ln()
            - (px + q) * (gamma + s.m * s.x).ln()
    }

    pub fn log_likelihood(&self, ss: &[Spend]) -> f64 {
        ss.iter().map(|s| self.log_likelihood_one(s)).sum()
    }

    /// E[mean spend | x, m] = (γ + m x) p / (p x + q - 1): the customer's
    /// own mean shrunk towards the population mean p γ / (q - 1).
    pub fn expected_spend(&self, s: &Spend) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        (gamma + s.m * s.x) * p / (p * s.x + q - 1.0)
    }

    /// Population mean spend p γ / (q - 1) (for customers with no
    /// transactions yet); infinite when q <= 1.
    pub fn mean_spend(&self) -> f64 {
        self.p * self.gamma / (self.q - 1.0)
    }

    /// Maximum-likelihood fit over customers with at least one transaction
    /// and a positive mean: BFGS with the gradient on the parameters' logs,
    /// Nelder–Mead from where it stopped if it did not settle.
    pub fn fit(ss: &[Spend]) -> Option<Fit> {
        Self::fit_with(ss, Method::Gradient)
    }

    pub fn fit_with(ss: &[Spend], method: Method) -> Option<Fit> {
        let usable = usable(ss);
        if usable.len() < 2 {
            return None;
        }
        let mean = usable.iter().map(|s| s.m).sum::<f64>() / usable.len() as f64;
        // Start at p = q = 2 with the population mean equal to the sample's.
        let start = [2f64.ln(), 2f64.ln(), (mean / 2.0).max(1e-9).ln()];
        let prepared = PreparedSpends::new(&usable);
        let value = |v: &[f64]| -prepared.log_likelihood_and_gradient(&Self::from_logs(v)).0;
        let m = match method {
            Method::Gradient => bfgs_or_simplex(
                |v| {
                    let (ll, grad) = prepared.log_likelihood_and_gradient(&Self::from_logs(v));
                    (-ll, grad.iter().map(|d| -d).collect())
                },
                value,
                &start,
            ),
            Method::Simplex => {
                nelder_mead(|v| -Self::from_logs(v).log_likelihood(&usable), &start, 1.0)
            }
        };
        Some(Fit {
            params: Self::from_logs(&m.x),
            log_likelihood: -m.value,
            customers: usable.len(),
            evaluations: m.evaluations,
            converged: m.converged && m.value.is_finite(),
        })
    }

    /// The log-likelihood's gradient in the parameters' logs (p, q, γ) over
    /// the customers a fit uses (x ≥ 1, m > 0): zero at the maximum.
    pub fn gradient(&self, ss: &[Spend]) -> [f64; 3] {
        PreparedSpends::new(&usable(ss))
            .log_likelihood_and_gradient(self)
            .1
    }

    fn from_logs(v: &[f64]) -> GammaGamma {
        GammaGamma {
            p: v[0].exp(),
            q: v[1].exp(),
            gamma: v[2].exp(),
        }
    }
}

/// The customers a fit can use: a transaction and a positive, finite mean.
fn usable(ss: &[Spend]) -> Vec<Spend> {
    ss.iter()
        .copied()
        .filter(|s| s.x >= 1.0 && s.m > 0.0 && s.m.is_finite())
        .collect()
}

/// Spends grouped by transaction count: the gamma-function terms depend
/// on x only, and Σ ln m is fixed, so an evaluation costs one logarithm
/// and one division per customer (of γ + m x, which depends on γ).
struct PreparedSpends {
    groups: Vec<SameCount>,
}

struct SameCount {
    x: f64,
    customers: f64,
    /// Σ ln m over the group.
    sum_ln_m: f64,
    /// Each customer's m·x.
    totals: Vec<f64>,
}

impl PreparedSpends {
    fn new(ss: &[Spend]) -> Self {
        let mut sorted: Vec<&Spend> = ss.iter().collect();
        sorted.sort_by(|p, q| p.x.total_cmp(&q.x).then(p.m.total_cmp(&q.m)));
        let mut groups: Vec<SameCount> = Vec::new();
        for s in sorted {
            if groups.last().is_none_or(|g| g.x != s.x) {
                groups.push(SameCount {
                    x: s.x,
                    customers: 0.0,
                    sum_ln_m: 0.0,
                    totals: Vec::new(),
                });
            }
            if let Some(g) = groups.last_mut() {
                g.customers += 1.0;
                g.sum_ln_m += s.m.ln();
                g.totals.push(s.m * s.x);
            }
        }
        PreparedSpends { groups }
    }

    /// ln L and its gradient in the parameters' logs (p, q, γ): per group
    /// of n customers with count x, with L = Σ ln(γ + m x), R = Σ 1/(γ + m x):
    /// ℓ = n[lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln γ + px ln x] + (px−1) Σ ln m − (px+q) L;
    /// ∂ℓ/∂p = n x[ψ(px+q) − ψ(px) + ln x] + x Σ ln m − x L,
    /// ∂ℓ/∂q = n[ψ(px+q) − ψ(q) + ln γ] − L, ∂ℓ/∂γ = n q/γ − (px+q) R.
    fn log_likelihood_and_gradient(&self, g: &GammaGamma) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, gamma } = *g;
        let (lg_q, dg_q, ln_gamma) = (lgamma(q), digamma(q), gamma.ln());
        let mut total = 0.0;
        let mut grad = [0.0; 3];
        for c in &self.groups {
            let (x, n) = (c.x, c.customers);
            let px = p * x;
            let (mut l, mut r) = (0.0, 0.0);
            for z in &c.totals {
                let at = gamma + z;
                l += at.ln();
                r += 1.0 / at;
            }
            let dg_pxq = digamma(px + q);
            total += n * (lgamma(px + q) - lgamma(px) - lg_q + q * ln_gamma + px * x.ln())
                + (px - 1.0) * c.sum_ln_m
                - (px + q) * l;
            grad[0] += n * x * (dg_pxq - digamma(px) + x.ln()) + x * c.sum_ln_m - x * l;
            grad[1] += n * (dg_pxq - dg_q + ln_gamma) - l;
            grad[2] += n * q / gamma - (px + q) * r;
        }
        (total, [grad[0] * p, grad[1] * q, grad[2] * gamma])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::analytics::optimize::checks::{gradient_matches, same_fit};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Gamma};

    const TRUTH: GammaGamma = GammaGamma {
        p: 6.0,
        q: 4.0,
        gamma: 1500.0,
    };

    /// `n` customers drawn from the model, with 1 to 12 transactions each.
    fn simulate(truth: GammaGamma, n: usize, seed: u64) -> Vec<Spend> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nu = Gamma::new(truth.q, 1.0 / truth.gamma).expect("gamma");
        (0..n)
            .map(|_| {
                let v = nu.sample(&mut rng);
                let amount = Gamma::new(truth.p, 1.0 / v).expect("gamma");
                let x = rng.random_range(1..=12);
                let total: f64 = (0..x).map(|_| amount.sample(&mut rng)).sum();
                Spend {
                    x: x as f64,
                    m: total / x as f64,
                }
            })
            .collect()
    }

    #[test]
    fn fit_recovers_the_parameters_it_was_simulated_with() {
        let truth = TRUTH;
        let ss = simulate(truth, 30_000, 11);
        let fit = GammaGamma::fit(&ss).expect("fit");
        assert!(fit.converged, "{fit:?}");
        for (name, got, want) in [
            ("p", fit.params.p, truth.p),
            ("q", fit.params.q, truth.q),
            ("gamma", fit.params.gamma, truth.gamma),
        ] {
            assert!(
                (got - want).abs() / want < 0.10,
                "{name}: fitted {got}, simulated with {want}"
            );
        }
    }

    #[test]
    fn likelihood_and_expectation_match_integration_over_nu() {
        // m̄ of x Gamma(p, ν) amounts is Gamma(px, rate νx); integrate that
        // density and ν's posterior over ν ~ Gamma(q, γ) by Simpson's rule
        // in u = ln ν (a second method for the closed forms).
        let g = GammaGamma {
            p: 3.0,
            q: 5.0,
            gamma: 200.0,
        };
        let s = Spend { x: 3.0, m: 70.0 };
        let dens = |nu: f64, k: f64, rate: f64| {
            (k * rate.ln() + (k - 1.0) * nu.ln() - rate * nu - lgamma(k)).exp()
        };
        let (lo, hi, n) = (-12.0f64, 6.0f64, 20_000usize);
        let h = (hi - lo) / n as f64;
        let (mut like, mut spend) = (0.0, 0.0);
        for i in 0..=n {
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let nu = (lo + i as f64 * h).exp();
            // dν = ν du
            let joint = dens(s.m, g.p * s.x, nu * s.x) * dens(nu, g.q, g.gamma) * nu * w;
            like += joint;
            // E[amount | ν] = p / ν
            spend += joint * g.p / nu;
        }
        let (like, spend) = (like * h / 3.0, spend * h / 3.0);
        assert!((g.log_likelihood_one(&s) - like.ln()).abs() < 1e-8);
        assert!((g.expected_spend(&s) - spend / like).abs() < 1e-6 * g.expected_spend(&s));
        // Hand arithmetic: (200 + 70·3) · 3 / (3·3 + 5 - 1) = 1230 / 13.
        assert!((g.expected_spend(&s) - 1230.0 / 13.0).abs() < 1e-12);
        assert!((g.mean_spend() - 150.0).abs() < 1e-12);
    }

    /// The grouped likelihood equals the per-customer formula, and its
    /// gradient central differences of that formula (a second method).
    #[test]
    fn grouped_likelihood_and_gradient_match_the_per_customer_formula() {
        let ss = simulate(TRUTH, 5_000, 3);
        let prepared = PreparedSpends::new(&ss);
        let elsewhere = GammaGamma {
            p: 3.5,
            q: 7.0,
            gamma: 600.0,
        };
        for g in [TRUTH, elsewhere] {
            let (ll, grad) = prepared.log_likelihood_and_gradient(&g);
            let each = g.log_likelihood(&ss);
            assert!((ll - each).abs() <= 1e-10 * each.abs(), "{ll} vs {each}");
            let at = [g.p.ln(), g.q.ln(), g.gamma.ln()];
            gradient_matches(
                |v| GammaGamma::from_logs(v).log_likelihood(&ss),
                &at,
                &grad,
                &format!("{g:?}"),
            );
        }
    }

    /// The gradient fit lands where Nelder–Mead does, to 6 significant
    /// digits, in far fewer evaluations.
    #[test]
    fn gradient_fit_agrees_with_nelder_mead() {
        let ss = simulate(TRUTH, 30_000, 17);
        let fast = GammaGamma::fit_with(&ss, Method::Gradient).expect("fit");
        let slow = GammaGamma::fit_with(&ss, Method::Simplex).expect("fit");
        assert!(fast.converged && slow.converged, "{fast:?} {slow:?}");
        let (f, s) = (fast.params, slow.params);
        same_fit(
            &[
                ("p", f.p, s.p),
                ("q", f.q, s.q),
                ("gamma", f.gamma, s.gamma),
            ],
            (fast.evaluations, slow.evaluations),
        );
    }
}
