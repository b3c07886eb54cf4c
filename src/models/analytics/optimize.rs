//! Nelder–Mead minimisation, for maximum-likelihood fits of a handful of
//! parameters (BG/NBD has four, Gamma-Gamma three). Derivative-free, so the
//! likelihoods stay exactly the paper's formulas with no hand-derived
//! gradients to get wrong; the fits restart from their own optimum until it
//! stops moving, the usual guard against a collapsed simplex.

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
}
