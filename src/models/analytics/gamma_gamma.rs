//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV";
//! Hardie's note "The Gamma-Gamma model of monetary value"). A customer's
//! transaction amounts are Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; a customer is summarised by `x` transactions and their mean
//! amount `m`.

use super::optimize::nelder_mead;
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
    /// and a positive mean.
    pub fn fit(ss: &[Spend]) -> Option<Fit> {
        let usable: Vec<Spend> = ss
            .iter()
            .copied()
            .filter(|s| s.x >= 1.0 && s.m > 0.0 && s.m.is_finite())
            .collect();
        if usable.len() < 2 {
            return None;
        }
        let mean = usable.iter().map(|s| s.m).sum::<f64>() / usable.len() as f64;
        // Start at p = q = 2 with the population mean equal to the sample's.
        let start = [2f64.ln(), 2f64.ln(), (mean / 2.0).max(1e-9).ln()];
        let m = nelder_mead(
            |v| {
                -GammaGamma {
                    p: v[0].exp(),
                    q: v[1].exp(),
                    gamma: v[2].exp(),
                }
                .log_likelihood(&usable)
            },
            &start,
            1.0,
        );
        Some(Fit {
            params: GammaGamma {
                p: m.x[0].exp(),
                q: m.x[1].exp(),
                gamma: m.x[2].exp(),
            },
            log_likelihood: -m.value,
            customers: usable.len(),
            converged: m.converged && m.value.is_finite(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Gamma};

    #[test]
    fn fit_recovers_the_parameters_it_was_simulated_with() {
        let truth = GammaGamma {
            p: 6.0,
            q: 4.0,
            gamma: 1500.0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let nu = Gamma::new(truth.q, 1.0 / truth.gamma).expect("gamma");
        let ss: Vec<Spend> = (0..30_000)
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
            .collect();
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
}
