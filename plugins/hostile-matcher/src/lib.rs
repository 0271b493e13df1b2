//! A hostile matcher for the host's tests: its configuration (`{"mode": …}`) picks the misbehaviour — spin forever,
//! allocate without bound, recurse without end, panic, answer NaN scores, answer too few verdicts, answer far more
//! output than any host should take in, score well but spin when asked to explain (`explain_spin`), take its time (`slow`), or score from a
//! table in its configuration (`{"mode": "table", "table": [[…], …]}`, indexed by the profiles' `row` and `col`
//! attributes) so a test can hand the solver any matrix, however large or small its numbers.

wit_bindgen::generate!({
    path: "../../plugin-sdk/wit",
    world: "matcher",
});

use exports::upward::plugin::matching::Guest;
use upward::plugin::config;
use upward::plugin::types::{Candidate, Explanation, Profile, ProgrammeContext, Verdict};

struct Hostile;

fn mode() -> String {
    let config = config::get();
    [
        "explain_spin",
        "table",
        "slow",
        "spin",
        "hog",
        "recurse",
        "panic",
        "nan",
        "short",
        "oversized",
    ]
    .into_iter()
    .find(|m| config.contains(m))
    .unwrap_or("well-behaved")
    .to_string()
}

/// The number after `"key":` in a flat JSON object string (the fixture has no JSON parser, on purpose: it stays tiny).
fn attribute(json: &str, key: &str) -> usize {
    let needle = format!("\"{key}\":");
    json.find(&needle)
        .map(|at| {
            json[at + needle.len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `table[row][col]` from the configuration's `"table": [[1e15, 8e15], [2e15, 9e15]]`.
fn table() -> Vec<Vec<f64>> {
    let config = config::get();
    let Some(start) = config.find("\"table\"") else {
        return Vec::new();
    };
    let body = &config[start..];
    let body = &body[body.find('[').unwrap_or(0) + 1..];
    let mut rows = Vec::new();
    for row in body.split(']') {
        let Some(open) = row.find('[') else { break };
        rows.push(
            row[open + 1..]
                .split(',')
                .filter_map(|n| n.trim().parse::<f64>().ok())
                .collect(),
        );
    }
    rows
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 64];
    recurse(depth + 1) + frame[(depth % 64) as usize]
}

impl Guest for Hostile {
    fn score(
        _programme: ProgrammeContext,
        mentors: Vec<Profile>,
        mentees: Vec<Profile>,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Verdict>, String> {
        match mode().as_str() {
            "spin" => spin(),
            // Well-behaved, but slow: `{"mode": "slow", "iterations": N}` busy-loops N times first.
            "slow" => {
                let mut n: u64 = 0;
                for _ in 0..attribute(&config::get(), "iterations") {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
                Ok(candidates.iter().map(|_| Verdict::Score(1.0)).collect())
            }
            "table" => {
                let table = table();
                Ok(candidates
                    .iter()
                    .map(|&(i, j)| {
                        let row = attribute(&mentors[i as usize].attributes, "row");
                        let col = attribute(&mentees[j as usize].attributes, "col");
                        match table.get(row).and_then(|r| r.get(col)) {
                            Some(score) => Verdict::Score(*score),
                            None => Verdict::Veto("not in the table".into()),
                        }
                    })
                    .collect())
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => Ok(vec![Verdict::Score(recurse(0) as f64)]),
            "panic" => panic!("the hostile matcher panics"),
            "nan" => Ok(candidates.iter().map(|_| Verdict::Score(f64::NAN)).collect()),
            "short" => Ok(candidates.iter().skip(1).map(|_| Verdict::Score(1.0)).collect()),
            // Within its memory, but far more output than any host should take in.
            "oversized" => Ok(candidates.iter().map(|_| Verdict::Veto("x".repeat(16 << 10))).collect()),
            _ => Ok(candidates.iter().map(|_| Verdict::Score(1.0)).collect()),
        }
    }

    fn explain(
        programme: ProgrammeContext,
        mentors: Vec<Profile>,
        mentees: Vec<Profile>,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Explanation>, String> {
        match mode().as_str() {
            "explain_spin" => spin(),
            "table" => {
                let verdicts = Self::score(programme, mentors, mentees, candidates)?;
                return Ok(verdicts
                    .into_iter()
                    .map(|v| Explanation {
                        score: match v {
                            Verdict::Score(s) => s,
                            Verdict::Veto(_) => 0.0,
                        },
                        factors: Vec::new(),
                    })
                    .collect());
            }
            _ => {}
        }
        Ok(candidates
            .iter()
            .map(|_| Explanation {
                score: 1.0,
                factors: Vec::new(),
            })
            .collect())
    }
}

export!(Hostile);
