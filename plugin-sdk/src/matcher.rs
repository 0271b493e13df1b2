//! The `matcher` world: implement [`Matcher`] and export it with [`crate::export_matcher!`]. The engine calls
//! `score` with batches of many candidates (profiles travel once per batch, candidates are index pairs) and
//! `explain` for the pairs its optimal assignment chose.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "matcher",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_matcher_world",
        default_bindings_module: "upward_plugin_sdk::matcher::bindings",
    });
}

pub use bindings::upward::plugin::types::{
    Candidate, CrossDepartment, Explanation, Factor, Profile, ProgrammeContext, Verdict,
};

impl ProgrammeContext {
    /// The programme's weight for a factor (`shared_topics`, `level_gap`, `cross_department`, `shared_languages`,
    /// `proximity`), 0 when absent.
    pub fn weight(&self, name: &str) -> f64 {
        self.weights.iter().find(|(n, _)| n == name).map_or(0.0, |(_, w)| *w)
    }
}

impl Profile {
    /// The organisation's participant attributes as JSON.
    pub fn attributes(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.attributes).unwrap_or_default()
    }
}

/// One batch: the programme, its mentors' and mentees' profiles, and the candidates as index pairs into them.
pub struct Batch<'a> {
    pub programme: &'a ProgrammeContext,
    pub mentors: &'a [Profile],
    pub mentees: &'a [Profile],
    pub candidates: &'a [Candidate],
}

impl<'a> Batch<'a> {
    pub fn new(
        programme: &'a ProgrammeContext,
        mentors: &'a [Profile],
        mentees: &'a [Profile],
        candidates: &'a [Candidate],
    ) -> Batch<'a> {
        Batch {
            programme,
            mentors,
            mentees,
            candidates,
        }
    }

    /// Each candidate as `(mentor index, mentee index)`, checked against the profiles.
    pub fn indices(&self) -> impl Iterator<Item = Result<(usize, usize), String>> + '_ {
        self.candidates.iter().map(|&(i, j)| {
            let (i, j) = (i as usize, j as usize);
            if i < self.mentors.len() && j < self.mentees.len() {
                Ok((i, j))
            } else {
                Err(format!("candidate ({i}, {j}) is out of range"))
            }
        })
    }
}

/// A matching policy. Implement `score` (and, for useful explanations, `explain`); override the batch methods to
/// precompute per profile rather than per candidate.
pub trait Matcher {
    /// A finite score ≥ 0 (higher is a better pair), or a veto with its reason.
    fn score(programme: &ProgrammeContext, mentor: &Profile, mentee: &Profile) -> Verdict;

    /// The score with its per-factor explanation. Default: one `score` factor.
    fn explain(programme: &ProgrammeContext, mentor: &Profile, mentee: &Profile) -> Explanation {
        let score = match Self::score(programme, mentor, mentee) {
            Verdict::Score(s) => s,
            Verdict::Veto(_) => 0.0,
        };
        Explanation {
            score,
            factors: vec![Factor {
                name: "score".into(),
                value: 1.0,
                weight: score,
                contribution: score,
            }],
        }
    }

    /// One verdict per candidate, in order.
    fn score_batch(batch: &Batch<'_>) -> Result<Vec<Verdict>, String> {
        batch
            .indices()
            .map(|c| c.map(|(i, j)| Self::score(batch.programme, &batch.mentors[i], &batch.mentees[j])))
            .collect()
    }

    /// One explanation per candidate, in order.
    fn explain_batch(batch: &Batch<'_>) -> Result<Vec<Explanation>, String> {
        batch
            .indices()
            .map(|c| c.map(|(i, j)| Self::explain(batch.programme, &batch.mentors[i], &batch.mentees[j])))
            .collect()
    }
}

#[doc(hidden)]
pub fn run_score<M: Matcher>(batch: Batch<'_>) -> Result<Vec<Verdict>, String> {
    M::score_batch(&batch)
}

#[doc(hidden)]
pub fn run_explain<M: Matcher>(batch: Batch<'_>) -> Result<Vec<Explanation>, String> {
    M::explain_batch(&batch)
}

/// Exports a [`Matcher`] as the component's `matcher` world.
#[macro_export]
macro_rules! export_matcher {
    ($matcher:ty) => {
        // Natively the plugin is still "used", so its author sees no dead-code warnings under `cargo test`.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = $crate::matcher::run_score::<$matcher>;
        };
        // Natively (`cargo test`) there is no component to export to: the harness calls the trait directly.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::matcher::{Candidate, Explanation, Profile, ProgrammeContext, Verdict};

            struct UpwardMatcherExport;

            impl $crate::matcher::bindings::exports::upward::plugin::matching::Guest for UpwardMatcherExport {
                fn score(
                    programme: ProgrammeContext,
                    mentors: Vec<Profile>,
                    mentees: Vec<Profile>,
                    candidates: Vec<Candidate>,
                ) -> Result<Vec<Verdict>, String> {
                    $crate::matcher::run_score::<$matcher>($crate::matcher::Batch::new(
                        &programme,
                        &mentors,
                        &mentees,
                        &candidates,
                    ))
                }

                fn explain(
                    programme: ProgrammeContext,
                    mentors: Vec<Profile>,
                    mentees: Vec<Profile>,
                    candidates: Vec<Candidate>,
                ) -> Result<Vec<Explanation>, String> {
                    $crate::matcher::run_explain::<$matcher>($crate::matcher::Batch::new(
                        &programme,
                        &mentors,
                        &mentees,
                        &candidates,
                    ))
                }
            }

            $crate::matcher::bindings::__export_matcher_world!(UpwardMatcherExport with_types_in $crate::matcher::bindings);
        };
    };
}
