//! The CLV step's two fits on the same customers, side by side: BFGS with
//! the likelihood's gradient (what the step uses) and Nelder–Mead (what it
//! used before, the derivative-free second method). Reads a CSV of
//! `frequency,recency_weeks,age_weeks,monetary` — `customer_clv`'s own
//! columns, which are exactly the fits' inputs — and prints each fit's
//! time, evaluations and parameters, the largest slope of the log-likelihood
//! left at each fit (zero at the exact maximum), and the largest relative
//! difference between the two.
//!
//!   cargo build --release --bench clv_fit   (benches/clv.sh does this)
//!   clv_fit FILE.csv

use std::time::Instant;
use touchpoint::models::analytics::bgnbd::{BgNbd, History};
use touchpoint::models::analytics::gamma_gamma::{GammaGamma, Spend};
use touchpoint::models::analytics::optimize::Method;

fn main() {
    // Without a file (as `cargo test --all-targets` and `cargo bench` run
    // it) there is nothing to measure: say how to use it and succeed.
    let Some(path) = std::env::args().nth(1).filter(|a| a != "--bench") else {
        eprintln!("usage: clv_fit FILE.csv (frequency,recency_weeks,age_weeks,monetary)");
        return;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{path}`: {e}");
            std::process::exit(1);
        }
    };
    let (mut histories, mut spends) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        let (Some(x), Some(t_x), Some(t)) = (num(0), num(1), num(2)) else {
            eprintln!("error: line {}: expected three numbers: {line}", n + 1);
            std::process::exit(1);
        };
        histories.push(History { x, t_x, t });
        if let Some(m) = num(3) {
            spends.push(Spend { x, m });
        }
    }
    println!(
        "{} customers, {} with a repeat purchase",
        histories.len(),
        spends.len()
    );
    let mut rows = Vec::new();
    for method in [Method::Gradient, Method::Simplex] {
        let t0 = Instant::now();
        let bg = BgNbd::fit_with(&histories, method);
        let t1 = Instant::now();
        let gg = GammaGamma::fit_with(&spends, method);
        let t2 = Instant::now();
        let (Some(bg), Some(gg)) = (bg, gg) else {
            eprintln!("error: nothing to fit");
            std::process::exit(1);
        };
        println!(
            "{method:?}: BG/NBD {:.3} s ({} evaluations, {} distinct histories, converged {}), \
             Gamma-Gamma {:.3} s ({} evaluations, converged {})",
            (t1 - t0).as_secs_f64(),
            bg.evaluations,
            bg.distinct,
            bg.converged,
            (t2 - t1).as_secs_f64(),
            gg.evaluations,
            gg.converged
        );
        let p = [
            bg.params.r,
            bg.params.alpha,
            bg.params.a,
            bg.params.b,
            gg.params.p,
            gg.params.q,
            gg.params.gamma,
        ];
        println!(
            "  r {:.9} alpha {:.9} a {:.9} b {:.9} | p {:.9} q {:.9} gamma {:.9} | ln L {:.6} / {:.6}",
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], bg.log_likelihood, gg.log_likelihood
        );
        let largest = |g: &[f64]| g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        println!(
            "  largest |∂ ln L / ∂ ln θ| at this fit: BG/NBD {:.2e}, Gamma-Gamma {:.2e}",
            largest(&bg.params.gradient(&histories)),
            largest(&gg.params.gradient(&spends))
        );
        rows.push(p);
    }
    let worst = rows[0]
        .iter()
        .zip(&rows[1])
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0f64, f64::max);
    println!("largest relative difference between the two fits' parameters: {worst:.2e}");
}
