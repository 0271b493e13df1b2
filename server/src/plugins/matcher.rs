//! Matcher plugins: the `matcher` world's bindings and [`PluginPolicy`], a [`MatchingPolicy`] that scores each batch
//! in a fresh, limited instance of the organisation's component.

use std::collections::HashMap;

use uuid::Uuid;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf};

use super::{Host, Limits, PluginError, State, classify};
use crate::domain::programmes::{CrossDepartment, Programme};
use crate::matching::policy::{Candidate, Factor, MatchingPolicy, PolicyError, Verdict};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "matcher",
    });
}

use bindings::upward::plugin::{config, log, types};

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        self.log(format!("{level:?}: {message}"));
    }
}

impl config::Host for State {
    fn get(&mut self) -> String {
        self.config.clone()
    }

    fn secret(&mut self, _name: String) -> Option<String> {
        // Matchers get no secrets.
        None
    }
}

/// A compiled matcher, ready to instantiate cheaply for each batch.
pub struct PluginPolicy {
    name: String,
    engine: wasmtime::Engine,
    pre: bindings::MatcherPre<State>,
    limits: Limits,
    config: String,
}

impl PluginPolicy {
    pub fn new(
        host: &Host,
        name: &str,
        component: &Component,
        limits: Limits,
        config: String,
    ) -> Result<Self, PluginError> {
        let mut linker = host.linker()?;
        bindings::Matcher::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Compile(e.to_string()))?;
        let pre = linker.instantiate_pre(component).map_err(|e| PluginError::WrongWorld {
            world: "matcher",
            message: format!("{e:#}"),
        })?;
        let pre = bindings::MatcherPre::new(pre).map_err(|e| PluginError::WrongWorld {
            world: "matcher",
            message: format!("{e:#}"),
        })?;
        Ok(PluginPolicy {
            name: name.to_string(),
            engine: host.engine().clone(),
            pre,
            limits,
            config,
        })
    }

    /// Creates a store and an instance and drops them: what every invocation pays before its call (for benchmarks).
    pub fn instantiate_only(&self) -> Result<(), PluginError> {
        self.invoke(0, |_, _| Ok(Ok(())))
    }

    /// Runs one call in a fresh store: fuel for `items`, the deadline, the memory cap.
    fn invoke<R>(
        &self,
        items: usize,
        call: impl FnOnce(&bindings::Matcher, &mut Store<State>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PluginError> {
        let mut store = Store::new(&self.engine, State::new(&self.limits, self.config.clone()));
        store.limiter(|s| &mut s.limits);
        // A new store has no fuel and a deadline of 0; instantiation already runs code, so set both first.
        let fuel = self.limits.fuel_base + self.limits.fuel_per_item * items as u64;
        store.set_fuel(fuel).map_err(|e| PluginError::Trap(e.to_string()))?;
        let ticks = (self.limits.timeout.as_millis() / super::EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let matcher = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, self.limits.timeout))?;
        match call(&matcher, &mut store) {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(message)) => Err(PluginError::Returned(message)),
            Err(e) => Err(classify(e, self.limits.timeout)),
        }
    }
}

/// A batch in the contract's shape: the programme, each mentor and mentee profile once, candidates as index pairs.
type Lowered = (
    types::ProgrammeContext,
    Vec<types::Profile>,
    Vec<types::Profile>,
    Vec<(u32, u32)>,
);

/// The batch in the contract's shape: each profile once, candidates as index pairs.
fn lower(programme: &Programme, batch: &[Candidate<'_>]) -> Lowered {
    let mut mentors: Vec<types::Profile> = Vec::new();
    let mut mentees: Vec<types::Profile> = Vec::new();
    let mut mentor_index: HashMap<Uuid, u32> = HashMap::new();
    let mut mentee_index: HashMap<Uuid, u32> = HashMap::new();
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
        let i = *mentor_index.entry(mentor.participant.id).or_insert_with(|| {
            mentors.push(profile(mentor));
            (mentors.len() - 1) as u32
        });
        let j = *mentee_index.entry(mentee.participant.id).or_insert_with(|| {
            mentees.push(profile(mentee));
            (mentees.len() - 1) as u32
        });
        candidates.push((i, j));
    }
    let w = &programme.matching.weights;
    let context = types::ProgrammeContext {
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
    };
    (context, mentors, mentees, candidates)
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
            self.invoke(batch.len(), |m, store| {
                m.upward_plugin_matching()
                    .call_explain(store, &context, &mentors, &mentees, &candidates)
            })
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
            self.invoke(batch.len(), |m, store| {
                m.upward_plugin_matching()
                    .call_score(store, &context, &mentors, &mentees, &candidates)
            })
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
