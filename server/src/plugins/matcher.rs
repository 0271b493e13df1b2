//! Matcher plugins: [`PluginPolicy`], a [`MatchingPolicy`] that scores each batch in a fresh, limited instance of
//! the organisation's component, and the JSON shape of a matcher's input and output for dry runs and
//! `upward plugin run`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wasmtime::component::{Component, HasSelf};

use super::wit::matcher::{Matcher, MatcherPre};
use super::wit::types;
use super::{Host, Invocation, Limits, PluginError, Sandbox, State, Usage, invoke};
use crate::domain::programmes::{CrossDepartment, Programme};
use crate::matching::policy::{Candidate, Factor, MatchingPolicy, PolicyError, Verdict};

fn prepare(host: &Host, component: &Component) -> Result<MatcherPre<State>, PluginError> {
    let mut linker = host.linker()?;
    Matcher::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(|e| PluginError::Compile(e.to_string()))?;
    let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
        world: "matcher",
        message: format!("{e:#}"),
    };
    MatcherPre::new(linker.instantiate_pre(component).map_err(wrong)?).map_err(wrong)
}

/// Checks that the component links as a matcher.
pub fn check(host: &Host, component: &Component) -> Result<(), PluginError> {
    prepare(host, component).map(|_| ())
}

/// A compiled matcher, ready to instantiate cheaply for each batch. Keeps a record of every invocation.
pub struct PluginPolicy {
    name: String,
    engine: wasmtime::Engine,
    pre: MatcherPre<State>,
    limits: Limits,
    config: String,
    invocations: Mutex<Vec<Invocation>>,
}

impl PluginPolicy {
    pub fn new(
        host: &Host,
        name: &str,
        component: &Component,
        limits: Limits,
        config: String,
    ) -> Result<Self, PluginError> {
        Ok(PluginPolicy {
            name: name.to_string(),
            engine: host.engine().clone(),
            pre: prepare(host, component)?,
            limits,
            config,
            invocations: Mutex::new(Vec::new()),
        })
    }

    /// Creates a store and an instance and drops them: what every invocation pays before its call (for benchmarks).
    pub fn instantiate_only(&self) -> Result<(), PluginError> {
        invoke(
            Sandbox {
                engine: &self.engine,
                limits: &self.limits,
                config: self.config.clone(),
                network: None,
            },
            0,
            |store| self.pre.instantiate(store),
            |_, _| Ok(Ok(())),
            |_| 0,
        )
        .0
    }

    /// The limits of an `explain` call: fuel per item from the explanation budget.
    fn explaining(&self) -> Limits {
        Limits {
            fuel_per_item: self.limits.explain_fuel_per_item,
            ..self.limits.clone()
        }
    }

    /// The invocations so far, taken (the engine records them after the run).
    pub fn take_invocations(&self) -> Vec<Invocation> {
        self.invocations
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// One call, its output checked (size, one result per candidate, finite scores ≥ 0) before it is recorded, so
    /// the record says what really happened.
    fn call<R: Checked>(
        &self,
        limits: &Limits,
        items: usize,
        call: impl FnOnce(&Matcher, &mut wasmtime::Store<State>) -> wasmtime::Result<Result<Vec<R>, String>>,
    ) -> (Result<Vec<R>, PluginError>, Usage) {
        let (result, usage) = invoke(
            Sandbox {
                engine: &self.engine,
                limits,
                config: self.config.clone(),
                network: None,
            },
            items,
            |store| self.pre.instantiate(store),
            call,
            |v| v.iter().map(Checked::size).sum(),
        );
        let result = result.and_then(|v| {
            if v.len() != items {
                return Err(PluginError::Malformed(format!(
                    "{} verdicts for {items} candidates",
                    v.len()
                )));
            }
            match v.iter().filter_map(Checked::score).find(|s| !s.is_finite() || *s < 0.0) {
                Some(bad) => Err(PluginError::Malformed(format!(
                    "a score is not a finite number ≥ 0 ({bad})"
                ))),
                None => Ok(v),
            }
        });
        if let Ok(mut records) = self.invocations.lock() {
            records.push(Invocation::of(&result, usage.clone()));
        }
        (result, usage)
    }

    /// Scores one batch in the contract's shape (dry runs and `upward plugin run`).
    pub fn run(&self, input: &MatcherInput) -> (Result<MatcherOutput, PluginError>, Usage) {
        let (context, mentors, mentees, candidates) = input.lower();
        let n = candidates.len();
        if input.explain {
            let (r, u) = self.call(&self.explaining(), n, |m, store| {
                m.upward_plugin_matching()
                    .call_explain(store, &context, &mentors, &mentees, &candidates)
            });
            let output = r.map(|v| MatcherOutput {
                verdicts: None,
                explanations: Some(v.into_iter().map(ExplanationDoc::from).collect()),
            });
            (output, u)
        } else {
            let (r, u) = self.call(&self.limits, n, |m, store| {
                m.upward_plugin_matching()
                    .call_score(store, &context, &mentors, &mentees, &candidates)
            });
            let output = r.map(|v| MatcherOutput {
                verdicts: Some(v.into_iter().map(VerdictDoc::from).collect()),
                explanations: None,
            });
            (output, u)
        }
    }
}

/// What the host checks of each result a matcher returns.
trait Checked {
    /// Bytes it occupies once lifted (strings and lists dominate).
    fn size(&self) -> usize;
    fn score(&self) -> Option<f64>;
}

impl Checked for types::Verdict {
    fn size(&self) -> usize {
        match self {
            types::Verdict::Score(_) => 9,
            types::Verdict::Veto(reason) => 9 + reason.len(),
        }
    }

    fn score(&self) -> Option<f64> {
        match self {
            types::Verdict::Score(s) => Some(*s),
            types::Verdict::Veto(_) => None,
        }
    }
}

impl Checked for types::Explanation {
    fn size(&self) -> usize {
        16 + self.factors.iter().map(|f| 32 + f.name.len()).sum::<usize>()
    }

    fn score(&self) -> Option<f64> {
        Some(self.score)
    }
}

/// A batch in the contract's shape: the programme, each mentor and mentee profile once, candidates as index pairs.
type Lowered = (
    types::ProgrammeContext,
    Vec<types::Profile>,
    Vec<types::Profile>,
    Vec<(u32, u32)>,
);

fn context(programme: &Programme) -> types::ProgrammeContext {
    let w = &programme.matching.weights;
    types::ProgrammeContext {
        id: programme.id.to_string(),
        topics: programme.topics.clone(),
        min_level_gap: programme.matching.min_level_gap,
        cross_department: match programme.matching.cross_department {
            CrossDepartment::Required => types::CrossDepartment::Required,
            CrossDepartment::Preferred => types::CrossDepartment::Preferred,
            CrossDepartment::Ignored => types::CrossDepartment::Ignored,
        },
        weights: vec![
            ("shared_topics".into(), w.shared_topics),
            ("level_gap".into(), w.level_gap),
            ("cross_department".into(), w.cross_department),
            ("shared_languages".into(), w.shared_languages),
            ("proximity".into(), w.proximity),
        ],
    }
}

/// Folds an id's bytes with one multiply per word (FxHash's step). Lowering a batch looks up every candidate's
/// sides, a million lookups per run, where SipHash was measurable; ids are the server's own, not attacker-chosen.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64)
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap = HashMap<Uuid, u32, std::hash::BuildHasherDefault<IdHasher>>;

/// The engine's batch in the contract's shape: each profile once, candidates as index pairs.
fn lower(programme: &Programme, batch: &[Candidate<'_>]) -> Lowered {
    let mut mentors: Vec<types::Profile> = Vec::new();
    let mut mentees: Vec<types::Profile> = Vec::new();
    let mut mentor_index = IdMap::default();
    let mut mentee_index = IdMap::default();
    // Candidates arrive mentor by mentor: most lookups of the mentor side repeat the previous one.
    let mut previous_mentor: Option<(Uuid, u32)> = None;
    let mut candidates = Vec::with_capacity(batch.len());
    let profile = |side: &crate::matching::policy::Side<'_>| types::Profile {
        id: side.participant.id.to_string(),
        level: side.participant.level,
        department: side.participant.department.clone(),
        location: side.participant.location.clone(),
        timezone: side.participant.timezone.clone(),
        languages: side.participant.languages.clone(),
        topics: side.enrolment.topics.clone(),
        goals: side.enrolment.goals.clone(),
        attributes: serde_json::Value::Object(side.participant.attributes.clone()).to_string(),
    };
    for (mentor, mentee) in batch {
        let i = match previous_mentor {
            Some((id, i)) if id == mentor.participant.id => i,
            _ => {
                let i = *mentor_index.entry(mentor.participant.id).or_insert_with(|| {
                    mentors.push(profile(mentor));
                    (mentors.len() - 1) as u32
                });
                previous_mentor = Some((mentor.participant.id, i));
                i
            }
        };
        let j = *mentee_index.entry(mentee.participant.id).or_insert_with(|| {
            mentees.push(profile(mentee));
            (mentees.len() - 1) as u32
        });
        candidates.push((i, j));
    }
    (context(programme), mentors, mentees, candidates)
}

impl MatchingPolicy for PluginPolicy {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn score(
        &self,
        programme: &Programme,
        batch: &[Candidate<'_>],
        explain: bool,
    ) -> Result<Vec<Verdict>, PolicyError> {
        let (context, mentors, mentees, candidates) = lower(programme, batch);
        let failed = |e: PluginError| PolicyError::Failed(format!("plugin {}: {e}", self.name));
        let verdicts = if explain {
            self.call(&self.explaining(), batch.len(), |m, store| {
                m.upward_plugin_matching()
                    .call_explain(store, &context, &mentors, &mentees, &candidates)
            })
            .0
            .map_err(failed)?
            .into_iter()
            .map(|e| Verdict::Score {
                score: e.score,
                factors: e
                    .factors
                    .into_iter()
                    .map(|f| Factor {
                        name: f.name,
                        value: f.value,
                        weight: f.weight,
                        contribution: f.contribution,
                    })
                    .collect(),
            })
            .collect::<Vec<_>>()
        } else {
            self.call(&self.limits, batch.len(), |m, store| {
                m.upward_plugin_matching()
                    .call_score(store, &context, &mentors, &mentees, &candidates)
            })
            .0
            .map_err(failed)?
            .into_iter()
            .map(|v| match v {
                types::Verdict::Score(score) => Verdict::Score {
                    score,
                    factors: Vec::new(),
                },
                types::Verdict::Veto(reason) => Verdict::Veto { reason },
            })
            .collect::<Vec<_>>()
        };
        if verdicts.len() != batch.len() {
            return Err(PolicyError::WrongCount {
                expected: batch.len(),
                got: verdicts.len(),
            });
        }
        Ok(verdicts)
    }
}

/// A matcher's input as JSON: what `POST /v1/plugins/{id}/dry-run` and `upward plugin run --kind matcher` take.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "programme": {"id": "p1", "topics": ["ai", "hybrid work"], "min_level_gap": 1, "cross_department": "preferred",
                  "weights": {"shared_topics": 1.0, "level_gap": 0.5, "cross_department": 0.5, "shared_languages": 0.25, "proximity": 0.25}},
    "mentors": [{"id": "ana", "level": 2, "department": "Engineering", "languages": ["en"], "topics": ["ai"]}],
    "mentees": [{"id": "sam", "level": 9, "department": "Finance", "languages": ["en"], "topics": ["ai", "hybrid work"]}],
    "candidates": [[0, 0]],
    "explain": true
}))]
pub struct MatcherInput {
    pub programme: ProgrammeContextDoc,
    pub mentors: Vec<ProfileDoc>,
    pub mentees: Vec<ProfileDoc>,
    /// `[mentor index, mentee index]` pairs.
    pub candidates: Vec<[u32; 2]>,
    /// Call `explain` (scores with factors) instead of `score`.
    #[serde(default)]
    pub explain: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeContextDoc {
    pub id: String,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub min_level_gap: i32,
    #[serde(default)]
    pub cross_department: CrossDepartment,
    /// Weights by factor name.
    #[serde(default)]
    pub weights: std::collections::BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileDoc {
    pub id: String,
    pub level: i32,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub goals: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl MatcherInput {
    fn lower(&self) -> Lowered {
        let p = &self.programme;
        let context = types::ProgrammeContext {
            id: p.id.clone(),
            topics: p.topics.clone(),
            min_level_gap: p.min_level_gap,
            cross_department: match p.cross_department {
                CrossDepartment::Required => types::CrossDepartment::Required,
                CrossDepartment::Preferred => types::CrossDepartment::Preferred,
                CrossDepartment::Ignored => types::CrossDepartment::Ignored,
            },
            weights: p.weights.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        };
        let profile = |d: &ProfileDoc| types::Profile {
            id: d.id.clone(),
            level: d.level,
            department: d.department.clone(),
            location: d.location.clone(),
            timezone: d.timezone.clone(),
            languages: d.languages.clone(),
            topics: d.topics.clone(),
            goals: d.goals.clone(),
            attributes: serde_json::Value::Object(d.attributes.clone()).to_string(),
        };
        (
            context,
            self.mentors.iter().map(profile).collect(),
            self.mentees.iter().map(profile).collect(),
            self.candidates.iter().map(|[i, j]| (*i, *j)).collect(),
        )
    }
}

/// A matcher's output as JSON: `verdicts` from `score`, or `explanations` from `explain`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"verdicts": [{"score": 2.33, "veto": null}]}))]
pub struct MatcherOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<Vec<VerdictDoc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanations: Option<Vec<ExplanationDoc>>,
}

/// A score, or a veto with its reason.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct VerdictDoc {
    pub score: Option<f64>,
    pub veto: Option<String>,
}

impl From<types::Verdict> for VerdictDoc {
    fn from(v: types::Verdict) -> Self {
        match v {
            types::Verdict::Score(s) => VerdictDoc {
                score: Some(s),
                veto: None,
            },
            types::Verdict::Veto(r) => VerdictDoc {
                score: None,
                veto: Some(r),
            },
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct ExplanationDoc {
    pub score: f64,
    pub factors: Vec<Factor>,
}

impl From<types::Explanation> for ExplanationDoc {
    fn from(e: types::Explanation) -> Self {
        ExplanationDoc {
            score: e.score,
            factors: e
                .factors
                .into_iter()
                .map(|f| Factor {
                    name: f.name,
                    value: f.value,
                    weight: f.weight,
                    contribution: f.contribution,
                })
                .collect(),
        }
    }
}
