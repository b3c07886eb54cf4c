//! The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your
//! customers the easy way"). While alive a customer buys at rate λ
//! (λ ~ Gamma(r, α) across customers); after each purchase they drop out
//! with probability p (p ~ Beta(a, b)). Each customer is summarised by
//! `x` purchases after their birth, the time `t_x` of the last one and their
//! age `T` at the end of the calibration period (all times in weeks).

use super::grouped::PreparedHistories;
use super::optimize::{Method, bfgs_or_simplex, nelder_mead};
use super::special::log_add_weight;
use libm::lgamma;

/// One customer's purchase history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
}

/// Population parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A maximum-likelihood fit.
#[derive(Debug, Clone)]
pub struct Fit {
    pub params: BgNbd,
    pub log_likelihood: f64,
    pub customers: usize,
    /// Distinct (x, t_x, T) histories: what one evaluation costs.
    pub distinct: usize,
    pub evaluations: usize,
    pub converged: bool,
}

impl BgNbd {
    /// ln L of one customer, the paper's equation (6) in logs:
    /// L = B(a, b+x)/B(a, b) · Γ(r+x)α^r/Γ(r) · [ (α+T)^-(r+x)
    ///     + δ(x>0) a/(b+x-1) · (α+t_x)^-(r+x) ].
    pub fn log_likelihood_one(&self, h: &History) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = h.x;
        let a1 = lgamma(r + x) - lgamma(r) + r * alpha.ln();
        let a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
        let a3 = -(r + x) * (alpha + h.t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + h.t_x).ln();
            a1 + a2 + log_add_weight(a3, a4).0
        } else {
            a1 + a2 + a3
        }
    }

    pub fn log_likelihood(&self, hs: &[History]) -> f64 {
        PreparedHistories::new(hs).log_likelihood(self)
    }

    /// P(alive at T | x, t_x, T), the paper's equation (13).
    pub fn p_alive(&self, h: &History) -> f64 {
        if h.x == 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let ratio = (a / (b + h.x - 1.0)).ln() + (r + h.x) * ((alpha + h.t) / (alpha + h.t_x)).ln();
        1.0 / (1.0 + ratio.exp())
    }

    /// E[purchases in (T, T + t] | x, t_x, T], the paper's equation (10).
    pub fn expected_purchases(&self, h: &History, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = h.x;
        let z = t / (alpha + h.t + t);
        let lead = (a + b + x - 1.0) / (a - 1.0);
        let tail = ((alpha + h.t) / (alpha + h.t + t)).powf(r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let numerator = lead * (1.0 - tail);
        let denominator = if x > 0.0 {
            1.0 + (a / (b + x - 1.0)) * ((alpha + h.t) / (alpha + h.t_x)).powf(r + x)
        } else {
            1.0
        };
        numerator / denominator
    }

    /// Maximum-likelihood fit on the parameters' logs (so they stay
    /// positive): BFGS with the likelihood's gradient, Nelder–Mead from
    /// where it stopped if it did not settle.
    pub fn fit(hs: &[History]) -> Option<Fit> {
        Self::fit_with(hs, Method::Gradient)
    }

    pub fn fit_with(hs: &[History], method: Method) -> Option<Fit> {
        if hs.is_empty() {
            return None;
        }
        let prepared = PreparedHistories::new(hs);
        let distinct = prepared.distinct();
        let mean_t = hs.iter().map(|h| h.t).sum::<f64>() / hs.len() as f64;
        let start = [0.0, mean_t.max(1.0).ln(), 0.0, 0.0];
        let value = |v: &[f64]| -prepared.log_likelihood(&Self::from_logs(v));
        let m = match method {
            Method::Gradient => bfgs_or_simplex(
                |v| {
                    let (ll, grad) = prepared.log_likelihood_and_gradient(&Self::from_logs(v));
                    (-ll, grad.iter().map(|d| -d).collect())
                },
                value,
                &start,
            ),
            Method::Simplex => nelder_mead(value, &start, 1.0),
        };
        Some(Fit {
            params: Self::from_logs(&m.x),
            log_likelihood: -m.value,
            customers: hs.len(),
            distinct,
            evaluations: m.evaluations,
            converged: m.converged && m.value.is_finite(),
        })
    }

    /// The log-likelihood's gradient over `hs` in the parameters' logs (r,
    /// α, a, b): zero at the maximum, so it says how exact a fit is.
    pub fn gradient(&self, hs: &[History]) -> [f64; 4] {
        PreparedHistories::new(hs)
            .log_likelihood_and_gradient(self)
            .1
    }

    pub(super) fn from_logs(v: &[f64]) -> BgNbd {
        BgNbd {
            r: v[0].exp(),
            alpha: v[1].exp(),
            a: v[2].exp(),
            b: v[3].exp(),
        }
    }
}

/// Gauss's hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its
/// power series (the BG/NBD only needs z = t / (α + T + t) < 1).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..100_000 {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-16 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Beta, Distribution, Gamma};

    /// Draw `n` customers from the model itself, each observed for `weeks`.
    pub(crate) fn simulate(p: BgNbd, n: usize, weeks: f64, seed: u64) -> Vec<History> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let lambda = Gamma::new(p.r, 1.0 / p.alpha).expect("gamma");
        let drop = Beta::new(p.a, p.b).expect("beta");
        (0..n)
            .map(|_| {
                let (l, q) = (lambda.sample(&mut rng), drop.sample(&mut rng));
                let (mut now, mut x, mut t_x) = (0.0, 0.0, 0.0);
                loop {
                    now += -(1.0 - rng.random::<f64>()).ln() / l;
                    if now > weeks {
                        break;
                    }
                    x += 1.0;
                    t_x = now;
                    if rng.random::<f64>() < q {
                        break;
                    }
                }
                History { x, t_x, t: weeks }
            })
            .collect()
    }

    #[test]
    fn fit_recovers_the_parameters_it_was_simulated_with() {
        let truth = BgNbd {
            r: 0.5,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
        };
        let hs = simulate(truth, 40_000, 104.0, 7);
        let fit = BgNbd::fit(&hs).expect("fit");
        assert!(fit.converged, "{fit:?}");
        let p = fit.params;
        for (name, got, want) in [
            ("r", p.r, truth.r),
            ("alpha", p.alpha, truth.alpha),
            ("a", p.a, truth.a),
            ("b", p.b, truth.b),
        ] {
            assert!(
                (got - want).abs() / want < 0.10,
                "{name}: fitted {got}, simulated with {want} ({fit:?})"
            );
        }
        // The optimum beats the truth on its own data (it is the maximum).
        assert!(fit.log_likelihood >= truth.log_likelihood(&hs));
    }

    /// The gamma density with shape k and rate θ, and the beta density.
    fn gamma_pdf(v: f64, k: f64, rate: f64) -> f64 {
        (k * rate.ln() + (k - 1.0) * v.ln() - rate * v - lgamma(k)).exp()
    }
    fn beta_pdf(v: f64, a: f64, b: f64) -> f64 {
        ((a - 1.0) * v.ln() + (b - 1.0) * (1.0 - v).ln() + lgamma(a + b) - lgamma(a) - lgamma(b))
            .exp()
    }

    /// Integrate g(λ, p) · f(λ) f(p) over λ in (0, 12) and p in (0, 1) by
    /// the composite Simpson rule: an independent second method for the
    /// paper's closed forms (r, a, b integers above 1 here, so the integrand is smooth).
    fn integrate(p: &BgNbd, g: impl Fn(f64, f64) -> f64) -> f64 {
        let (nl, np, lmax) = (4000usize, 600usize, 12.0);
        let simpson = |i: usize, n: usize| {
            if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            }
        };
        let (hl, hp) = (lmax / nl as f64, 1.0 / np as f64);
        let mut total = 0.0;
        for i in 1..nl {
            let l = i as f64 * hl;
            let fl = gamma_pdf(l, p.r, p.alpha) * simpson(i, nl);
            for j in 1..np {
                let q = j as f64 * hp;
                total += fl * beta_pdf(q, p.a, p.b) * simpson(j, np) * g(l, q);
            }
        }
        total * hl * hp / 9.0
    }

    /// The individual-level likelihood (the paper's equation 3).
    fn individual(h: &History, l: f64, q: f64) -> f64 {
        let alive = (1.0 - q).powf(h.x) * l.powf(h.x) * (-l * h.t).exp();
        let dead = if h.x > 0.0 {
            q * (1.0 - q).powf(h.x - 1.0) * l.powf(h.x) * (-l * h.t_x).exp()
        } else {
            0.0
        };
        alive + dead
    }

    #[test]
    fn closed_forms_match_numerical_integration_on_a_hand_made_case() {
        let p = BgNbd {
            r: 2.0,
            alpha: 3.0,
            a: 3.0,
            b: 4.0,
        };
        for h in [
            History {
                x: 2.0,
                t_x: 5.0,
                t: 10.0,
            },
            History {
                x: 0.0,
                t_x: 0.0,
                t: 8.0,
            },
            History {
                x: 5.0,
                t_x: 11.5,
                t: 12.0,
            },
        ] {
            let likelihood = integrate(&p, |l, q| individual(&h, l, q));
            let ll = p.log_likelihood_one(&h);
            assert!(
                (ll - likelihood.ln()).abs() < 1e-6,
                "{h:?}: closed form {ll}, integrated {}",
                likelihood.ln()
            );
            assert!((p.log_likelihood(&[h]) - ll).abs() < 1e-12);
            // P(alive) = ∫ P(alive | λ, p) L f / ∫ L f, alive part of eq. 3.
            let alive = integrate(&p, |l, q| {
                (1.0 - q).powf(h.x) * l.powf(h.x) * (-l * h.t).exp()
            }) / likelihood;
            assert!(
                (p.p_alive(&h) - alive).abs() < 1e-6,
                "{h:?}: P(alive) {} vs integrated {alive}",
                p.p_alive(&h)
            );
            // E[Y(t)] = ∫ (1/p)(1 - e^{-λpt}) · P(alive, data | λ, p) f / ∫ L f (eq. 7).
            let t = 6.0;
            let expected = integrate(&p, |l, q| {
                (1.0 - (-l * q * t).exp()) / q
                    * (1.0 - q).powf(h.x)
                    * l.powf(h.x)
                    * (-l * h.t).exp()
            }) / likelihood;
            assert!(
                (p.expected_purchases(&h, t) - expected).abs() < 1e-5,
                "{h:?}: E[Y(6)] {} vs integrated {expected}",
                p.expected_purchases(&h, t)
            );
        }
    }

    #[test]
    fn hypergeometric_series_matches_known_values() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z.
        let z: f64 = 0.6;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-12);
        // 2F1(a, b; b; z) = (1 - z)^-a.
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.3) - 0.7f64.powf(-2.5)).abs() < 1e-12);
    }

    #[test]
    fn a_customer_who_bought_recently_is_more_likely_alive() {
        let p = BgNbd {
            r: 0.9,
            alpha: 4.0,
            a: 0.7,
            b: 40.0,
        };
        let recent = History {
            x: 10.0,
            t_x: 50.0,
            t: 52.0,
        };
        let lapsed = History {
            t_x: 10.0,
            ..recent
        };
        assert!(p.p_alive(&recent) > p.p_alive(&lapsed));
        assert!(p.expected_purchases(&recent, 52.0) > p.expected_purchases(&lapsed, 52.0));
    }
}
