//! Logistic regression by iteratively reweighted least squares (Newton's
//! method on the log-likelihood), with a tiny ridge penalty so that a
//! perfectly separating feature gives large, finite coefficients instead
//! of a failed fit. Features are standardised on the training rows, so the
//! coefficients compare across features and explain a score in words.

/// A fitted model over standardised features.
#[derive(Debug, Clone)]
pub struct Logistic {
    /// Intercept first, then one coefficient per feature (per standard deviation).
    pub coefficients: Vec<f64>,
    /// Training means and standard deviations used to standardise.
    pub means: Vec<f64>,
    pub scales: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
    /// Unpenalised, at the penalised optimum.
    pub log_likelihood: f64,
    /// λ of the penalty λ/2 · Σ slope²: the coefficients maximise the
    /// log-likelihood minus it (a MAP estimate under a Gaussian prior, not
    /// the MLE; statsmodels' unpenalised fit agrees to about 5e-4).
    pub ridge: f64,
}

/// Ridge penalty on the (standardised) slopes, never on the intercept.
const RIDGE: f64 = 1e-6;

/// The rows a fit reads: it passes over them several times (means,
/// scales, each Newton step), and every pass must see the same rows in the
/// same order, so that its floating-point sums (and so the fit) are the same
/// on every run. Held in memory ([`InMemory`]) or streamed from a scratch
/// file, so the fit's memory does not grow with the rows.
pub trait Rows {
    /// Call `each(features, label)` for every row, in a fixed order.
    fn pass(&self, each: &mut dyn FnMut(&[f64], bool)) -> Result<(), RowsError>;
}

/// A pass over streamed rows failed (the scratch file could not be read).
#[derive(Debug, thiserror::Error)]
#[error("reading the fit's rows: {0}")]
pub struct RowsError(pub String);

/// Rows held in memory: features per row and a 0/1 label each.
pub struct InMemory<'a>(pub &'a [Vec<f64>], pub &'a [bool]);

impl Rows for InMemory<'_> {
    fn pass(&self, each: &mut dyn FnMut(&[f64], bool)) -> Result<(), RowsError> {
        for (r, &y) in self.0.iter().zip(self.1) {
            each(r, y);
        }
        Ok(())
    }
}

impl Logistic {
    /// Fit on rows of features (`rows[i].len()` = number of features) and
    /// 0/1 labels. `None` if there are no rows or only one class.
    pub fn fit(rows: &[Vec<f64>], labels: &[bool]) -> Option<Logistic> {
        // Rows in memory cannot fail to be read.
        Self::fit_rows(&InMemory(rows, labels)).unwrap_or(None)
    }

    /// Fit on rows passed over again for each sum: the means, the scales,
    /// each Newton step and the log-likelihood. `Ok(None)` if there are no
    /// rows or only one class.
    pub fn fit_rows(rows: &dyn Rows) -> Result<Option<Logistic>, RowsError> {
        let (mut n, mut positives, mut k) = (0usize, 0usize, 0usize);
        rows.pass(&mut |r, y| {
            n += 1;
            positives += usize::from(y);
            k = r.len();
        })?;
        if n == 0 || positives == 0 || positives == n {
            return Ok(None);
        }
        let mut means = vec![0.0; k];
        rows.pass(&mut |r, _| {
            for (m, v) in means.iter_mut().zip(r) {
                *m += v / n as f64;
            }
        })?;
        let mut scales = vec![0.0; k];
        rows.pass(&mut |r, _| {
            for j in 0..k {
                scales[j] += (r[j] - means[j]).powi(2) / n as f64;
            }
        })?;
        // A constant feature keeps scale 1 (its coefficient stays ~0).
        let scales: Vec<f64> = scales
            .iter()
            .map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 })
            .collect();
        // The standardised row with the intercept's 1 first.
        let standardise = |r: &[f64], x: &mut [f64]| {
            x[0] = 1.0;
            for j in 0..k {
                x[j + 1] = (r[j] - means[j]) / scales[j];
            }
        };
        let d = k + 1;
        let base = positives as f64 / n as f64;
        let mut beta = vec![0.0; d];
        beta[0] = (base / (1.0 - base)).ln();
        let mut iterations = 0;
        let mut converged = false;
        let mut x = vec![0.0; d];
        while iterations < 100 {
            iterations += 1;
            // Normal equations of one Newton step: (XᵀWX + R) Δ = Xᵀ(y - μ) - Rβ.
            let mut h = vec![0.0; d * d];
            let mut g = vec![0.0; d];
            rows.pass(&mut |r, y| {
                standardise(r, &mut x);
                let mu = sigmoid(dot(&beta, &x));
                let w = (mu * (1.0 - mu)).max(1e-12);
                let resid = f64::from(u8::from(y)) - mu;
                for i in 0..d {
                    g[i] += x[i] * resid;
                    for j in 0..=i {
                        h[i * d + j] += w * x[i] * x[j];
                    }
                }
            })?;
            for i in 0..d {
                for j in 0..i {
                    h[j * d + i] = h[i * d + j];
                }
            }
            for i in 1..d {
                h[i * d + i] += RIDGE * n as f64;
                g[i] -= RIDGE * n as f64 * beta[i];
            }
            let Some(step) = solve_spd(&mut h, &g, d) else {
                return Ok(None);
            };
            let largest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
            for (b, s) in beta.iter_mut().zip(&step) {
                *b += s;
            }
            if largest < 1e-10 {
                converged = true;
                break;
            }
        }
        let mut log_likelihood = 0.0;
        rows.pass(&mut |r, y| {
            standardise(r, &mut x);
            log_likelihood += log_prob(dot(&beta, &x), y);
        })?;
        Ok(Some(Logistic {
            coefficients: beta,
            means,
            scales,
            iterations,
            converged,
            log_likelihood,
            ridge: RIDGE * n as f64,
        }))
    }

    /// Each feature's contribution to the log-odds against an average
    /// customer (coefficient × standardised value).
    pub fn contributions(&self, features: &[f64]) -> Vec<f64> {
        features
            .iter()
            .enumerate()
            .map(|(j, v)| self.coefficients[j + 1] * (v - self.means[j]) / self.scales[j])
            .collect()
    }

    /// Probability of the positive class.
    pub fn predict(&self, features: &[f64]) -> f64 {
        sigmoid(self.coefficients[0] + self.contributions(features).iter().sum::<f64>())
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// ln P(y | log-odds η), stable for large |η|.
fn log_prob(eta: f64, y: bool) -> f64 {
    let s = if y { eta } else { -eta };
    // ln σ(s) = -ln(1 + e^-s)
    -((-s).exp().ln_1p()).max(if s < -30.0 { -s } else { 0.0 })
}

/// Solve A x = b for symmetric positive-definite A (Cholesky, in place).
fn solve_spd(a: &mut [f64], b: &[f64], d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= a[j * d + k] * a[j * d + k];
        }
        if diag <= 0.0 || !diag.is_finite() {
            return None;
        }
        let diag = diag.sqrt();
        a[j * d + j] = diag;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / diag;
        }
    }
    let mut y = vec![0.0; d];
    for i in 0..d {
        let mut v = b[i];
        for k in 0..i {
            v -= a[i * d + k] * y[k];
        }
        y[i] = v / a[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let mut v = y[i];
        for k in i + 1..d {
            v -= a[k * d + i] * x[k];
        }
        x[i] = v / a[i * d + i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logit(p: f64) -> f64 {
        (p / (1.0 - p)).ln()
    }

    #[test]
    fn one_binary_feature_gives_the_closed_form_log_odds() {
        // With one 0/1 feature the model is saturated: the MLE reproduces the
        // observed rates, 3/10 when x = 0 and 6/8 when x = 1.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (x, n, pos) in [(0.0, 10, 3), (1.0, 8, 6)] {
            for i in 0..n {
                rows.push(vec![x]);
                labels.push(i < pos);
            }
        }
        let m = Logistic::fit(&rows, &labels).expect("fit");
        assert!(m.converged);
        assert!((m.predict(&[0.0]) - 0.3).abs() < 1e-5, "{m:?}");
        assert!((m.predict(&[1.0]) - 0.75).abs() < 1e-5, "{m:?}");
        // Slope per unit of x = logit(0.75) - logit(0.3); per sd here.
        let per_unit = m.coefficients[1] / m.scales[0];
        assert!((per_unit - (logit(0.75) - logit(0.3))).abs() < 1e-4);
        // ln L = 3 ln .3 + 7 ln .7 + 6 ln .75 + 2 ln .25
        let ll = 3.0 * 0.3f64.ln() + 7.0 * 0.7f64.ln() + 6.0 * 0.75f64.ln() + 2.0 * 0.25f64.ln();
        assert!((m.log_likelihood - ll).abs() < 1e-6);
    }

    #[test]
    fn separable_data_still_fits_and_ranks() {
        let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![f64::from(i)]).collect();
        let labels: Vec<bool> = (0..20).map(|i| i >= 10).collect();
        let m = Logistic::fit(&rows, &labels).expect("fit");
        assert!(m.predict(&[15.0]) > 0.99 && m.predict(&[4.0]) < 0.01);
    }

    #[test]
    fn one_class_is_no_model() {
        assert!(Logistic::fit(&[vec![1.0], vec![2.0]], &[false, false]).is_none());
    }
}
