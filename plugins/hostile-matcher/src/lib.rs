//! A hostile matcher for the host's tests: its configuration (`{"mode": …}`) picks the misbehaviour — spin forever,
//! allocate without bound, recurse without end, panic, answer NaN scores, answer too few verdicts, or answer far more
//! output than any host should take in.

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
    ["spin", "hog", "recurse", "panic", "nan", "short", "oversized"]
        .into_iter()
        .find(|m| config.contains(m))
        .unwrap_or("well-behaved")
        .to_string()
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 64];
    recurse(depth + 1) + frame[(depth % 64) as usize]
}

impl Guest for Hostile {
    fn score(
        _programme: ProgrammeContext,
        _mentors: Vec<Profile>,
        _mentees: Vec<Profile>,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Verdict>, String> {
        match mode().as_str() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
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
        _programme: ProgrammeContext,
        _mentors: Vec<Profile>,
        _mentees: Vec<Profile>,
        candidates: Vec<Candidate>,
    ) -> Result<Vec<Explanation>, String> {
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
