//! The assignment solver against an independent one (pathfinding's Kuhn–Munkres) at sizes brute force cannot reach,
//! across score magnitudes from 1e-9 to 1e300: the same optimal total, whatever the scale, and every veto respected.

use pathfinding::prelude::{Matrix, kuhn_munkres};
use upward_server::matching::solver::{Score, Stop, assign};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The optimum of integer weights (`None`: a veto) by Kuhn–Munkres: rows may stay unmatched through a dummy column
/// each, and a veto costs more than any assignment can win.
fn independent_optimum(rows: usize, cols: usize, weights: &[Option<i64>]) -> i64 {
    const VETO: i64 = -1_000_000_000_000;
    let width = cols + rows;
    let matrix = Matrix::from_fn(rows, width, |(r, c)| {
        if c < cols {
            weights[r * cols + c].unwrap_or(VETO)
        } else {
            0
        }
    });
    let (total, _) = kuhn_munkres(&matrix);
    total
}

#[test]
fn the_solver_agrees_with_kuhn_munkres_at_every_magnitude() {
    let mut rng = Rng(0x5eed);
    for magnitude in [1e-9, 1e-6, 1e-3, 1.0, 1e3, 1e9, 1e15, 1e18, 1e100, 1e300] {
        for _ in 0..20 {
            let rows = (rng.next() % 25 + 5) as usize;
            let cols = (rng.next() % 25 + 5) as usize;
            let weights: Vec<Option<i64>> = (0..rows * cols)
                .map(|_| (!rng.next().is_multiple_of(6)).then(|| (rng.next() % 1000) as i64))
                .collect();
            let scores: Vec<Score> = weights.iter().map(|w| w.map(|w| w as f64 * magnitude)).collect();
            let result = assign(rows, cols, &scores, &Stop::never()).expect("never stops");
            let mut used = vec![false; cols];
            let mut total = 0i64;
            for (r, c) in result.iter().enumerate() {
                if let Some(c) = *c {
                    assert!(!used[c], "a column used twice");
                    used[c] = true;
                    total += weights[r * cols + c].expect("a veto was chosen");
                }
            }
            assert_eq!(
                total,
                independent_optimum(rows, cols, &weights),
                "{rows}×{cols} at {magnitude:e}"
            );
        }
    }
}
