//! The optimal assignment: given a score for every (mentor slot, mentee) candidate — or a veto — choose the pairs that
//! maximise the total score, each slot and each mentee used at most once.
//!
//! A matcher may return any finite score ≥ 0, from 1e-300 to 1e300, so the scores are not solved as given: each run
//! maps them onto an integer grid relative to its own largest score (`q = round(s / max · 2⁵²)`, exact up to the last
//! bit of an f64), then solves exactly on integers with the Hungarian algorithm (shortest augmenting paths with
//! potentials, O(n²·m)) in 128-bit arithmetic. The grid keeps every potential below 2¹⁰⁰ for any size that fits in
//! memory, so no input can overflow it (the old thousandths in an i64 looped forever on scores near 1e15 and rounded
//! scores below 1e-3 to nothing). What is honoured, and said in the WIT and the SDK docs:
//! - the chosen total is the optimum to within `pairs × 2⁻⁵²` of the run's largest score — the precision of the f64
//!   sum itself;
//! - among assignments of equal total, the one with the most pairs wins (a score of 0 still pairs two people; only a
//!   veto keeps them apart); beyond that, the result is deterministic for the same input.
//!
//! The loop checks a [`Stop`] (a deadline and a cancellation flag) between steps, so a run past its deadline ends with
//! [`Stopped`] and frees its core instead of spinning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A candidate's score (finite, ≥ 0); `None` is a veto.
pub type Score = Option<f64>;

/// Scores are mapped onto the integers `0..=GRID`, the largest score of the run to `GRID`.
pub const GRID: u64 = 1 << 52;

/// When the solver must give up: a deadline, a cancellation flag, both or neither.
#[derive(Clone, Copy, Default)]
pub struct Stop<'a> {
    deadline: Option<(Instant, Duration)>,
    cancelled: Option<&'a AtomicBool>,
}

impl<'a> Stop<'a> {
    /// Never stops (tests, benchmarks).
    pub fn never() -> Self {
        Stop::default()
    }

    /// Stops `limit` from now, or as soon as `cancelled` is set.
    pub fn new(limit: Option<Duration>, cancelled: Option<&'a AtomicBool>) -> Self {
        Stop {
            deadline: limit.map(|limit| (Instant::now() + limit, limit)),
            cancelled,
        }
    }

    pub fn check(&self) -> Result<(), Stopped> {
        if let Some(flag) = self.cancelled
            && flag.load(Ordering::Relaxed)
        {
            return Err(Stopped::Cancelled);
        }
        if let Some((at, limit)) = self.deadline
            && Instant::now() >= at
        {
            return Err(Stopped::Deadline(limit));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    #[error("the run did not finish within its deadline of {} ms and was stopped", .0.as_millis())]
    Deadline(Duration),
    #[error("the assignment was cancelled")]
    Cancelled,
}

/// Returns, for each row, the column it is paired with (if any), maximising the sum of scores over chosen pairs
/// (then the number of pairs). `scores` is row-major, `rows × cols`. Vetoed cells are never chosen; a score that is
/// not a finite number ≥ 0 counts as a veto (callers refuse those before).
pub fn assign(rows: usize, cols: usize, scores: &[Score], stop: &Stop<'_>) -> Result<Vec<Option<usize>>, Stopped> {
    assert_eq!(scores.len(), rows * cols, "a score per cell");
    if rows == 0 || cols == 0 {
        return Ok(vec![None; rows]);
    }
    let valid = |s: f64| s.is_finite() && s >= 0.0;
    let max = scores
        .iter()
        .flatten()
        .copied()
        .filter(|&s| valid(s))
        .fold(0.0f64, f64::max);
    // The algorithm wants rows ≤ columns: transpose when needed. The grid values are laid out in that orientation so
    // the inner loop reads a row contiguously; -1 marks a veto.
    let transposed = rows > cols;
    let (n, m) = if transposed { (cols, rows) } else { (rows, cols) };
    let mut grid = vec![-1i64; n * m];
    for r in 0..rows {
        for c in 0..cols {
            if let Some(s) = scores[r * cols + c].filter(|&s| valid(s)) {
                let q = if max > 0.0 {
                    // s / max ≤ 1 is correctly rounded, and × 2⁵² is exact: q ≤ GRID.
                    ((s / max) * GRID as f64).round() as i64
                } else {
                    0
                };
                let (i, j) = if transposed { (c, r) } else { (r, c) };
                grid[i * m + j] = q;
            }
        }
    }
    // Lexicographic weight: a unit of q outweighs any number of extra pairs (at most n), and each pair adds 1, so of
    // two assignments with the same q-total the one with more pairs costs less. A veto costs what leaving both
    // unmatched costs (0) and is dropped afterwards.
    let pairs_bound = n as i128 + 1;
    let matched = hungarian(n, m, stop, |i, j| {
        let q = grid[i * m + j];
        if q < 0 { 0 } else { -(q as i128 * pairs_bound + 1) }
    })?;
    let mut out = vec![None; rows];
    for (i, j) in matched.into_iter().enumerate() {
        if grid[i * m + j] >= 0 {
            let (r, c) = if transposed { (j, i) } else { (i, j) };
            out[r] = Some(c);
        }
    }
    Ok(out)
}

/// Classic O(n²·m) Hungarian algorithm (1-indexed potentials `u`, `v`, matching `p`); `n ≤ m`. Returns each row's
/// column. Costs lie in `[-W, 0]` with `W ≤ 2⁵² · (n + 1) + 1`; potentials stay within `n · W < 2¹²⁰` for every
/// `n < 2³²`, far from the i128 limit.
fn hungarian(n: usize, m: usize, stop: &Stop<'_>, cost: impl Fn(usize, usize) -> i128) -> Result<Vec<usize>, Stopped> {
    const INF: i128 = i128::MAX / 4;
    let mut u = vec![0i128; n + 1];
    let mut v = vec![0i128; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: the row matched to column j (0 = none)
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![INF; m + 1];
    let mut used = vec![false; m + 1];
    let mut steps = 0u32;
    for i in 1..=n {
        stop.check()?;
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = INF);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            // Each step is O(m); looking at the clock every 64 keeps a stop within milliseconds at any size.
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(64) {
                stop.check()?;
            }
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = INF;
            let mut j1 = 0usize;
            let ui0 = u[i0];
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - ui0 - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0usize; n];
    for j in 1..=m {
        if p[j] != 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    Ok(row_to_col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(rows: usize, cols: usize, scores: &[Score]) -> Vec<Option<usize>> {
        let result = assign(rows, cols, scores, &Stop::never()).expect("never stops");
        let mut seen = std::collections::HashSet::new();
        for (r, c) in result.iter().enumerate() {
            if let Some(c) = c {
                assert!(seen.insert(*c), "a column used twice");
                assert!(scores[r * cols + c].is_some(), "a vetoed cell chosen");
            }
        }
        result
    }

    fn total(cols: usize, scores: &[Score], result: &[Option<usize>]) -> f64 {
        result
            .iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| scores[r * cols + c].unwrap()))
            .sum()
    }

    /// The best (total, pairs) over every matching, by brute force, for small cases.
    fn best(rows: usize, cols: usize, scores: &[Score]) -> (f64, usize) {
        fn go(r: usize, rows: usize, cols: usize, scores: &[Score], used: &mut Vec<bool>) -> (f64, usize) {
            if r == rows {
                return (0.0, 0);
            }
            let mut best = go(r + 1, rows, cols, scores, used);
            for c in 0..cols {
                if let (false, Some(s)) = (used[c], scores[r * cols + c]) {
                    used[c] = true;
                    let (t, k) = go(r + 1, rows, cols, scores, used);
                    let candidate = (s + t, k + 1);
                    if candidate.0 > best.0 || (candidate.0 == best.0 && candidate.1 > best.1) {
                        best = candidate;
                    }
                    used[c] = false;
                }
            }
            best
        }
        go(0, rows, cols, scores, &mut vec![false; cols])
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn close(a: f64, b: f64, scale: f64, pairs: usize) -> bool {
        (a - b).abs() <= scale * (pairs as f64 + 1.0) * 4.0 * f64::EPSILON
    }

    #[test]
    fn beats_greedy() {
        // Greedy takes A–X (10) and is left with B–Y (1): 11. The optimum is A–Y + B–X: 9 + 9 = 18.
        let scores = [Some(10.0), Some(9.0), Some(9.0), Some(1.0)];
        let result = solve(2, 2, &scores);
        assert_eq!(result, vec![Some(1), Some(0)]);
        assert_eq!(total(2, &scores, &result), 18.0);
    }

    #[test]
    fn vetoes_are_never_chosen_and_unmatched_is_allowed() {
        let scores = [None, Some(5.0), None, None];
        assert_eq!(solve(2, 2, &scores), vec![Some(1), None]);
        assert_eq!(solve(1, 3, &[None, None, None]), vec![None]);
        assert_eq!(
            solve(3, 1, &[Some(1.0), Some(7.0), Some(3.0)]),
            vec![None, Some(0), None]
        );
    }

    #[test]
    fn zero_scores_still_pair_people_and_ties_prefer_more_pairs() {
        // Every score 0 (or rounded to nothing by an old fixed grid): everyone is still paired.
        let zeros = vec![Some(0.0); 9];
        assert_eq!(solve(3, 3, &zeros).iter().flatten().count(), 3);
        // A–X alone scores 2; A–Y + B–X also score 2 (2 + 0): the tie goes to two pairs.
        let scores = [Some(2.0), Some(2.0), Some(0.0), None];
        assert_eq!(solve(2, 2, &scores), vec![Some(1), Some(0)]);
    }

    #[test]
    fn the_reported_overflow_case_finishes_at_its_optimum() {
        // Thousandths of these overflowed the i64 potentials and the loop never ended.
        let m = [
            [1e15, 8e15, 1e15, 1e15],
            [2e15, 9e15, 9e15, 1e15],
            [2e15, 1e15, 9e15, 3e15],
            [2e15, 2e15, 9e15, 8e15],
        ];
        let scores: Vec<Score> = m.iter().flatten().map(|&s| Some(s)).collect();
        let result = solve(4, 4, &scores);
        let (optimum, pairs) = best(4, 4, &scores);
        assert_eq!(result.iter().flatten().count(), pairs);
        assert!(close(total(4, &scores, &result), optimum, 9e15, 4), "{result:?}");
        assert_eq!(optimum, 2.7e16);
    }

    #[test]
    fn matches_brute_force_at_every_magnitude() {
        let mut rng = Rng(7);
        for magnitude in [1e-300, 1e-9, 1e-5, 1e-4, 1e-3, 1.0, 1e3, 1e15, 1e16, 1e100, 1e300] {
            for _ in 0..200 {
                let rows = (rng.next() % 5 + 1) as usize;
                let cols = (rng.next() % 5 + 1) as usize;
                let scores: Vec<Score> = (0..rows * cols)
                    .map(|_| match rng.next() % 8 {
                        0 => None,
                        1 => Some(0.0),
                        _ => Some(rng.unit() * magnitude),
                    })
                    .collect();
                let result = solve(rows, cols, &scores);
                let (optimum, pairs) = best(rows, cols, &scores);
                let got = total(cols, &scores, &result);
                assert!(
                    close(got, optimum, magnitude, pairs),
                    "{magnitude}: {got} vs {optimum} for {scores:?}"
                );
            }
        }
    }

    #[test]
    fn a_stop_ends_the_loop() {
        let n = 300;
        let mut rng = Rng(3);
        let scores: Vec<Score> = (0..n * n).map(|_| Some(rng.unit())).collect();
        let cancelled = AtomicBool::new(true);
        assert_eq!(
            assign(n, n, &scores, &Stop::new(None, Some(&cancelled))),
            Err(Stopped::Cancelled)
        );
        assert_eq!(
            assign(n, n, &scores, &Stop::new(Some(Duration::ZERO), None)),
            Err(Stopped::Deadline(Duration::ZERO))
        );
        assert!(assign(n, n, &scores, &Stop::new(Some(Duration::from_secs(600)), None)).is_ok());
    }
}
