//! Special functions the likelihoods' gradients need beyond `libm`.

/// ψ(x) = d/dx ln Γ(x), for x > 0: shifted up by ψ(x) = ψ(x + 1) − 1/x
/// until x ≥ 10, then the asymptotic series (its error there is below
/// 1e-16 relative to ln x).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return f64::NAN;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let z = 1.0 / (x * x);
    // Bernoulli terms B_2k / (2k x^2k), k = 1..6.
    let series = z
        * (1.0 / 12.0
            - z * (1.0 / 120.0
                - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0 - z * 691.0 / 32760.0)))));
    shift + x.ln() - 0.5 / x - series
}

/// ln(e^p + e^q) and the weight e^q / (e^p + e^q) of `q`, without overflow.
pub fn log_add_weight(p: f64, q: f64) -> (f64, f64) {
    let d = q - p;
    if d > 0.0 {
        let e = (-d).exp();
        (q + e.ln_1p(), 1.0 / (1.0 + e))
    } else {
        let e = d.exp();
        (p + e.ln_1p(), e / (1.0 + e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libm::lgamma;

    const EULER: f64 = 0.577_215_664_901_532_9;

    #[test]
    fn digamma_matches_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(n) = −γ + Σ_{k<n} 1/k.
        assert!((digamma(1.0) + EULER).abs() < 1e-14);
        assert!((digamma(0.5) + EULER + 2.0 * 2f64.ln()).abs() < 1e-14);
        let harmonic: f64 = (1..50).map(|k| 1.0 / k as f64).sum();
        assert!((digamma(50.0) - (harmonic - EULER)).abs() < 1e-14);
        // ψ(1/4) = −γ − π/2 − 3 ln 2.
        let quarter = -EULER - std::f64::consts::FRAC_PI_2 - 3.0 * 2f64.ln();
        assert!((digamma(0.25) - quarter).abs() < 1e-13);
        assert!(digamma(0.0).is_nan() && digamma(-1.0).is_nan());
    }

    #[test]
    fn digamma_is_the_slope_of_lgamma() {
        for x in [0.03, 0.7, 3.3, 11.0, 250.0, 1.0e5] {
            let h = 1e-5 * x;
            let slope = (lgamma(x + h) - lgamma(x - h)) / (2.0 * h);
            assert!(
                (digamma(x) - slope).abs() < 1e-6 * (1.0 + slope.abs()),
                "x = {x}: {} vs {slope}",
                digamma(x)
            );
        }
    }

    #[test]
    fn log_add_weight_matches_the_direct_formula() {
        for (p, q) in [(-3.0, 2.0), (2.0, -3.0), (0.5, 0.5), (-700.0, -702.0)] {
            let (v, w) = log_add_weight(p, q);
            let (ep, eq) = (f64::exp(p), f64::exp(q));
            if ep + eq > 0.0 {
                assert!((v - (ep + eq).ln()).abs() < 1e-12, "{p} {q}");
                assert!((w - eq / (ep + eq)).abs() < 1e-12, "{p} {q}");
            }
        }
        // Far apart: no overflow.
        let (v, w) = log_add_weight(1000.0, 0.0);
        assert_eq!((v, w), (1000.0, 0.0));
    }
}
