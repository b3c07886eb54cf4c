//! How good a score is on held-out rows: AUC, calibration by decile and
//! lift in the top decile.

/// Area under the ROC curve: the probability that a random positive scores
/// above a random negative (ties count half), by the rank-sum
/// (Mann–Whitney) formula. `None` without both classes.
pub fn auc(scored: &[(f64, bool)]) -> Option<f64> {
    let mut v: Vec<(f64, bool)> = scored.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = v.iter().filter(|s| s.1).count() as f64;
    let negatives = v.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        // Tied scores share the mean of ranks i+1..=j.
        let rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += rank * v[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// One score decile: 1 is the highest scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Decile {
    pub decile: usize,
    pub rows: usize,
    pub mean_score: f64,
    pub observed_rate: f64,
}

/// Rows sorted by score (highest first) and cut into ten groups whose
/// sizes differ by at most one.
pub fn deciles(scored: &[(f64, bool)]) -> Vec<Decile> {
    let mut v: Vec<(f64, bool)> = scored.to_vec();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = v.len();
    (0..10)
        .filter_map(|d| {
            let (lo, hi) = (d * n / 10, (d + 1) * n / 10);
            let part = &v[lo..hi];
            (!part.is_empty()).then(|| Decile {
                decile: d + 1,
                rows: part.len(),
                mean_score: part.iter().map(|s| s.0).sum::<f64>() / part.len() as f64,
                observed_rate: part.iter().filter(|s| s.1).count() as f64 / part.len() as f64,
            })
        })
        .collect()
}

/// Observed rate in the top decile over the overall rate.
pub fn top_decile_lift(scored: &[(f64, bool)]) -> Option<f64> {
    let overall = scored.iter().filter(|s| s.1).count() as f64 / scored.len() as f64;
    let top = deciles(scored).into_iter().next()?;
    (overall > 0.0).then(|| top.observed_rate / overall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // Positives at 0.9 and 0.4; negatives at 0.8, 0.4, 0.1. Pairs
        // (pos > neg): 0.9 beats all 3; 0.4 beats 0.1, ties 0.4 (half), loses
        // to 0.8: (3 + 1.5) / 6 = 0.75.
        let s = [
            (0.9, true),
            (0.4, true),
            (0.8, false),
            (0.4, false),
            (0.1, false),
        ];
        assert_eq!(auc(&s), Some(0.75));
        assert_eq!(auc(&[(0.5, true)]), None);
        let perfect = [(0.9, true), (0.1, false)];
        assert_eq!(auc(&perfect), Some(1.0));
    }

    #[test]
    fn deciles_and_lift_by_hand() {
        // 20 rows, scores 0.95, 0.90, …, 0.00; the top two rows positive,
        // plus one at the bottom: top decile rate 2/2 = 1, overall 3/20,
        // lift = 1 / 0.15.
        let s: Vec<(f64, bool)> = (0..20)
            .map(|i| (f64::from(19 - i) * 0.05, i < 2 || i == 19))
            .collect();
        let d = deciles(&s);
        assert_eq!(d.len(), 10);
        assert_eq!(d[0].rows, 2);
        assert!((d[0].mean_score - 0.925).abs() < 1e-12);
        assert_eq!(d[0].observed_rate, 1.0);
        assert_eq!(d[9].observed_rate, 0.5);
        assert!((top_decile_lift(&s).expect("lift") - 1.0 / 0.15).abs() < 1e-12);
    }
}
