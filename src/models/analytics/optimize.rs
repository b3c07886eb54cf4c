//! Minimisation for maximum-likelihood fits of a handful of parameters
//! (BG/NBD has four, Gamma-Gamma three). BFGS with the likelihood's own
//! gradient is the fit: tens of evaluations where the derivative-free
//! Nelder–Mead takes hundreds to thousands, and at a million customers an
//! evaluation is the cost. Nelder–Mead stays as the fallback when BFGS
//! cannot settle (and as the second method the gradients are tested
//! against); it restarts from its own optimum until it stops moving, the
//! usual guard against a collapsed simplex.

/// How a fit searches: by the gradient (the fits' way) or derivative-free
/// (the second method the tests hold the first against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Gradient,
    Simplex,
}

/// Where the minimum was found and the function's value there.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub evaluations: usize,
    pub converged: bool,
}

/// Minimise `f` from `start`; the first simplex steps `step` along each axis.
/// A non-finite value counts as +infinity (outside the feasible region).
pub fn nelder_mead(f: impl Fn(&[f64]) -> f64, start: &[f64], step: f64) -> Minimum {
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut best = Minimum {
        x: start.to_vec(),
        value: eval(start),
        evaluations: 1,
        converged: false,
    };
    for _restart in 0..8 {
        let m = simplex_search(&eval, &best.x, step);
        let moved = (best.value - m.value).abs() > 1e-10 * (1.0 + best.value.abs());
        let evaluations = best.evaluations + m.evaluations;
        if m.value <= best.value {
            best = m;
        }
        best.evaluations = evaluations;
        if !moved && best.converged {
            break;
        }
    }
    best
}

fn simplex_search(f: &impl Fn(&[f64]) -> f64, start: &[f64], step: f64) -> Minimum {
    let n = start.len();
    let (alpha, gamma, rho, sigma) = (1.0, 2.0, 0.5, 0.5);
    let mut pts: Vec<Vec<f64>> = vec![start.to_vec()];
    for i in 0..n {
        let mut p = start.to_vec();
        p[i] += step;
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    let mut evaluations = n + 1;
    let max_evaluations = 2000 * n;
    let mut converged = false;
    while evaluations < max_evaluations {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| vals[i].total_cmp(&vals[j]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        let spread = (vals[n] - vals[0]).abs();
        let size = pts[1..]
            .iter()
            .flat_map(|p| p.iter().zip(&pts[0]).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        if spread <= 1e-12 * (1.0 + vals[0].abs()) && size < 1e-7 {
            converged = true;
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|k| pts[..n].iter().map(|p| p[k]).sum::<f64>() / n as f64)
            .collect();
        let towards = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&pts[n])
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };
        let reflected = towards(alpha);
        let fr = f(&reflected);
        evaluations += 1;
        if fr < vals[0] {
            let expanded = towards(gamma);
            let fe = f(&expanded);
            evaluations += 1;
            if fe < fr {
                (pts[n], vals[n]) = (expanded, fe);
            } else {
                (pts[n], vals[n]) = (reflected, fr);
            }
        } else if fr < vals[n - 1] {
            (pts[n], vals[n]) = (reflected, fr);
        } else {
            let outside = fr < vals[n];
            let contracted = towards(if outside { rho } else { -rho });
            let fc = f(&contracted);
            evaluations += 1;
            if fc < fr.min(vals[n]) {
                (pts[n], vals[n]) = (contracted, fc);
            } else {
                // Shrink towards the best point.
                for i in 1..=n {
                    let p: Vec<f64> = pts[i]
                        .iter()
                        .zip(&pts[0])
                        .map(|(x, b)| b + sigma * (x - b))
                        .collect();
                    vals[i] = f(&p);
                    pts[i] = p;
                }
                evaluations += n;
            }
        }
    }
    let best = (0..=n)
        .min_by(|&i, &j| vals[i].total_cmp(&vals[j]))
        .unwrap_or(0);
    Minimum {
        x: pts[best].clone(),
        value: vals[best],
        evaluations,
        converged,
    }
}

/// Minimise `f` from `start` by BFGS; `f` returns the value and its
/// gradient. A non-finite value counts as +infinity (outside the feasible
/// region). Converged when the quasi-Newton step still to take is below
/// 1e-9 in every coordinate (the fits work in logs of the parameters, so
/// that is the parameters' relative precision).
pub fn bfgs(f: impl Fn(&[f64]) -> (f64, Vec<f64>), start: &[f64]) -> Minimum {
    let n = start.len();
    let eval = |x: &[f64]| {
        let (v, g) = f(x);
        if v.is_finite() && g.iter().all(|d| d.is_finite()) {
            (v, g)
        } else {
            (f64::INFINITY, g)
        }
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let identity = |h: &mut Vec<f64>| {
        h.iter_mut().for_each(|v| *v = 0.0);
        (0..n).for_each(|i| h[i * n + i] = 1.0);
    };
    // The inverse Hessian's approximation, row-major.
    let times = |h: &[f64], v: &[f64]| -> Vec<f64> {
        (0..n).map(|i| dot(&h[i * n..(i + 1) * n], v)).collect()
    };
    let mut x = start.to_vec();
    let (mut value, mut grad) = eval(&x);
    let mut evaluations = 1;
    let mut converged = false;
    let mut h = vec![0.0; n * n];
    identity(&mut h);
    let mut scaled = false;
    for _iteration in 0..500 {
        if !value.is_finite() {
            break;
        }
        let mut d: Vec<f64> = times(&h, &grad).iter().map(|v| -v).collect();
        let mut slope = dot(&grad, &d);
        if slope.is_nan() || slope >= 0.0 {
            identity(&mut h);
            d = grad.iter().map(|v| -v).collect();
            slope = -dot(&grad, &grad);
        }
        if slope == 0.0 {
            converged = true;
            break;
        }
        let longest = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if longest < 1e-9 {
            converged = true;
            break;
        }
        // A step of more than 2 in a parameter's log is never needed and
        // can overflow the likelihood.
        let mut t = if longest > 2.0 { 2.0 / longest } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            let next: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + t * b).collect();
            let (v, g) = eval(&next);
            evaluations += 1;
            // Armijo, or near the optimum, where the value's rounding
            // hides a decrease, the approximate Wolfe condition on the slope.
            let armijo = v <= value + 1e-4 * t * slope;
            let flat = v <= value + 1e-12 * value.abs() && dot(&g, &d).abs() <= 0.9 * slope.abs();
            if armijo || flat {
                accepted = Some((next, v, g));
                break;
            }
            t *= 0.5;
        }
        let Some((next, v, g)) = accepted else {
            break;
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g.iter().zip(&grad).map(|(a, b)| a - b).collect();
        (x, value, grad) = (next, v, g);
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if !scaled {
                let scale = sy / dot(&y, &y);
                identity(&mut h);
                h.iter_mut().for_each(|v| *v *= scale);
                scaled = true;
            }
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let hy = times(&h, &y);
            let yhy = dot(&y, &hy);
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
    }
    Minimum {
        x,
        value,
        evaluations,
        converged,
    }
}

/// Minimise by BFGS on `fg` (value and gradient); if it does not settle,
/// by Nelder–Mead on `f` from where it stopped.
pub fn bfgs_or_simplex(
    fg: impl Fn(&[f64]) -> (f64, Vec<f64>),
    f: impl Fn(&[f64]) -> f64,
    start: &[f64],
) -> Minimum {
    let g = bfgs(fg, start);
    if g.converged {
        return g;
    }
    let mut m = nelder_mead(f, &g.x, 0.1);
    m.evaluations += g.evaluations;
    m
}

/// Checks the fits' tests share.
#[cfg(test)]
pub(crate) mod checks {
    /// `grad` (the analytic gradient at `at`) against central differences
    /// of `f`, a second method.
    pub fn gradient_matches(f: impl Fn(&[f64]) -> f64, at: &[f64], grad: &[f64], what: &str) {
        let h = 1e-5;
        for k in 0..at.len() {
            let (mut up, mut down) = (at.to_vec(), at.to_vec());
            up[k] += h;
            down[k] -= h;
            let numeric = (f(&up) - f(&down)) / (2.0 * h);
            assert!(
                (grad[k] - numeric).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "{what} parameter {k}: analytic {} vs numeric {numeric}",
                grad[k]
            );
        }
    }

    /// Two fits' parameters (name, by gradient, by Nelder–Mead) equal to
    /// 6 significant digits, the gradient's in a fifth of the evaluations.
    pub fn same_fit(params: &[(&str, f64, f64)], evaluations: (usize, usize)) {
        eprintln!(
            "evaluations: gradient {}, Nelder–Mead {}",
            evaluations.0, evaluations.1
        );
        for (name, got, want) in params {
            assert!(
                (got - want).abs() <= 1e-6 * want,
                "{name}: gradient {got}, Nelder–Mead {want}"
            );
        }
        assert!(
            evaluations.0 * 5 < evaluations.1,
            "{} vs {} evaluations",
            evaluations.0,
            evaluations.1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        // Minimum at (1, 1), value 0: a curved valley that defeats sloppy simplex code.
        let m = nelder_mead(
            |x| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2),
            &[-1.2, 1.0],
            0.5,
        );
        assert!(m.converged);
        assert!(
            (m.x[0] - 1.0).abs() < 1e-5 && (m.x[1] - 1.0).abs() < 1e-5,
            "{m:?}"
        );
    }

    #[test]
    fn treats_non_finite_values_as_infeasible() {
        // ln(x) - x has its maximum at x = 1; below 0 the value is NaN.
        let m = nelder_mead(|x| -(x[0].ln() - x[0]), &[3.0], 1.0);
        assert!((m.x[0] - 1.0).abs() < 1e-5, "{m:?}");
    }

    #[test]
    fn bfgs_finds_the_rosenbrock_minimum_in_few_evaluations() {
        let m = bfgs(
            |x| {
                let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
                (
                    a * a + 100.0 * b * b,
                    vec![-2.0 * a - 400.0 * x[0] * b, 200.0 * b],
                )
            },
            &[-1.2, 1.0],
        );
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-7 && (m.x[1] - 1.0).abs() < 1e-7,
            "{m:?}"
        );
        // Nelder–Mead needs hundreds here.
        assert!(m.evaluations < 150, "{m:?}");
    }

    #[test]
    fn bfgs_treats_non_finite_values_as_infeasible() {
        // ln(x) - x has its maximum at x = 1; below 0 the value is NaN.
        let m = bfgs(|x| (-(x[0].ln() - x[0]), vec![1.0 - 1.0 / x[0]]), &[3.0]);
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-8, "{m:?}");
        // Infeasible from the start: not converged, no panic.
        let m = bfgs(|x| (x[0].ln(), vec![1.0 / x[0]]), &[-1.0]);
        assert!(!m.converged);
    }
}
