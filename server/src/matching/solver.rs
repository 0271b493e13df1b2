//! The optimal assignment: given a score for every (mentor slot, mentee) candidate — or a veto — choose the pairs that
//! maximise the total score, each slot and each mentee used at most once. The Hungarian algorithm (shortest augmenting
//! paths with potentials, O(n²·m)) on integer costs, so results are exact and deterministic for the same input.

/// A score in thousandths; `None` is a veto.
pub type Score = Option<i64>;

/// Returns, for each row, the column it is paired with (if any), maximising the sum of scores over chosen pairs.
/// `scores` is row-major, `rows × cols`. Vetoed cells are never chosen. Every score must be ≥ 0.
pub fn assign(rows: usize, cols: usize, scores: &[Score]) -> Vec<Option<usize>> {
    assert_eq!(scores.len(), rows * cols, "a score per cell");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    // The algorithm wants rows ≤ columns: transpose when needed.
    let transposed = rows > cols;
    let (n, m) = if transposed { (cols, rows) } else { (rows, cols) };
    let cost = |i: usize, j: usize| -> i64 {
        let s = if transposed {
            scores[j * cols + i]
        } else {
            scores[i * cols + j]
        };
        // A veto costs what leaving both unmatched costs (0): the pair is dropped afterwards. Since every real score
        // is ≥ 0, a full assignment of minimum cost is a maximum-score matching once vetoed cells are removed.
        -s.unwrap_or(0)
    };
    let matched = hungarian(n, m, cost);
    let mut out = vec![None; rows];
    for (i, j) in matched.into_iter().enumerate() {
        let (r, c) = if transposed { (j, i) } else { (i, j) };
        if scores[r * cols + c].is_some() {
            out[r] = Some(c);
        }
    }
    out
}

/// Classic O(n²·m) Hungarian algorithm (1-indexed potentials `u`, `v`, matching `p`); `n ≤ m`. Returns each row's
/// column.
fn hungarian(n: usize, m: usize, cost: impl Fn(usize, usize) -> i64) -> Vec<usize> {
    const INF: i64 = i64::MAX / 4;
    let mut u = vec![0i64; n + 1];
    let mut v = vec![0i64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: the row matched to column j (0 = none)
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![INF; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = INF);
        used.iter_mut().for_each(|x| *x = false);
        loop {
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
    row_to_col
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(rows: usize, cols: usize, scores: &[Score], result: &[Option<usize>]) -> i64 {
        let _ = rows;
        result
            .iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| scores[r * cols + c].unwrap()))
            .sum()
    }

    /// Every matching, by brute force, for small cases.
    fn best(rows: usize, cols: usize, scores: &[Score]) -> i64 {
        fn go(r: usize, rows: usize, cols: usize, scores: &[Score], used: &mut Vec<bool>) -> i64 {
            if r == rows {
                return 0;
            }
            let mut best = go(r + 1, rows, cols, scores, used);
            for c in 0..cols {
                if let (false, Some(s)) = (used[c], scores[r * cols + c]) {
                    used[c] = true;
                    best = best.max(s + go(r + 1, rows, cols, scores, used));
                    used[c] = false;
                }
            }
            best
        }
        go(0, rows, cols, scores, &mut vec![false; cols])
    }

    #[test]
    fn beats_greedy() {
        // Greedy takes A–X (10) and is left with B–Y (1): 11. The optimum is A–Y + B–X: 9 + 9 = 18.
        let scores = [Some(10), Some(9), Some(9), Some(1)];
        let result = assign(2, 2, &scores);
        assert_eq!(result, vec![Some(1), Some(0)]);
        assert_eq!(total(2, 2, &scores, &result), 18);
    }

    #[test]
    fn vetoes_are_never_chosen_and_unmatched_is_allowed() {
        let scores = [None, Some(5), None, None];
        assert_eq!(assign(2, 2, &scores), vec![Some(1), None]);
        assert_eq!(assign(1, 3, &[None, None, None]), vec![None]);
        assert_eq!(assign(3, 1, &[Some(1), Some(7), Some(3)]), vec![None, Some(0), None]);
    }

    #[test]
    fn matches_brute_force_on_small_random_cases() {
        let mut seed = 7u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let rows = (next() % 5 + 1) as usize;
            let cols = (next() % 5 + 1) as usize;
            let scores: Vec<Score> = (0..rows * cols)
                .map(|_| {
                    if next() % 4 == 0 {
                        None
                    } else {
                        Some((next() % 100) as i64)
                    }
                })
                .collect();
            let result = assign(rows, cols, &scores);
            let mut seen = std::collections::HashSet::new();
            for c in result.iter().flatten() {
                assert!(seen.insert(*c), "a column used twice");
            }
            assert_eq!(
                total(rows, cols, &scores, &result),
                best(rows, cols, &scores),
                "{scores:?}"
            );
        }
    }
}
