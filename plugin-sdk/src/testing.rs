//! A native test harness: run your plugin's logic under plain `cargo test`, no wasm toolchain, no server. It stands
//! in for the host's imports (configuration, secrets, log lines, HTTP responses) per test thread, and offers
//! builders for the contract's records.
//!
//! ```ignore
//! use upward_plugin_sdk::testing;
//!
//! #[test]
//! fn prefers_shared_topics() {
//!     testing::set_config(r#"{"bonus": 2.0}"#);
//!     let programme = testing::programme(&["ai"]);
//!     let ana = testing::profile("ana", 2).topics(&["ai"]);
//!     let sam = testing::profile("sam", 9).topics(&["ai"]);
//!     let verdicts = testing::score::<MyMatcher>(&programme, &[ana], &[sam], &[(0, 0)]).unwrap();
//!     assert_eq!(verdicts.len(), 1);
//! }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

/// What the harness hands the plugin in place of the host, per test thread.
#[derive(Default)]
pub struct State {
    pub config: String,
    pub secrets: HashMap<String, String>,
    pub logs: Vec<String>,
    /// Canned responses by URL, for connectors.
    pub responses: HashMap<String, (u16, Vec<u8>)>,
    /// Every URL the plugin requested.
    pub requests: Vec<String>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State { config: "{}".into(), ..State::default() });
}

pub fn state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Sets the configuration `config()` returns on this thread.
pub fn set_config(json: &str) {
    state(|s| s.config = json.to_string())
}

pub fn set_secret(name: &str, value: &str) {
    state(|s| {
        s.secrets.insert(name.to_string(), value.to_string());
    })
}

/// The log lines written on this thread so far (taken).
pub fn logs() -> Vec<String> {
    state(|s| std::mem::take(&mut s.logs))
}

/// Answers requests to `url` with this status and body.
pub fn respond(url: &str, status: u16, body: &str) {
    state(|s| {
        s.responses.insert(url.to_string(), (status, body.as_bytes().to_vec()));
    })
}

/// The URLs requested so far (taken).
pub fn requests() -> Vec<String> {
    state(|s| std::mem::take(&mut s.requests))
}

#[cfg(feature = "matcher")]
pub use matcher::*;

#[cfg(feature = "matcher")]
mod matcher {
    use crate::matcher::{Batch, Candidate, CrossDepartment, Explanation, Matcher, Profile, ProgrammeContext, Verdict};

    /// A programme with these topics and the default weights (those of a new programme).
    pub fn programme(topics: &[&str]) -> ProgrammeContext {
        ProgrammeContext {
            id: "test-programme".into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            min_level_gap: 1,
            cross_department: CrossDepartment::Preferred,
            weights: vec![
                ("shared_topics".into(), 1.0),
                ("level_gap".into(), 0.5),
                ("cross_department".into(), 0.5),
                ("shared_languages".into(), 0.25),
                ("proximity".into(), 0.25),
            ],
        }
    }

    /// A profile with an id and a level; chain the setters for the rest.
    pub fn profile(id: &str, level: i32) -> Profile {
        Profile {
            id: id.into(),
            level,
            department: None,
            location: None,
            timezone: None,
            languages: Vec::new(),
            topics: Vec::new(),
            goals: None,
            attributes: "{}".into(),
        }
    }

    /// Builder-style setters for test profiles.
    pub trait ProfileExt {
        fn department(self, d: &str) -> Self;
        fn topics(self, t: &[&str]) -> Self;
        fn languages(self, l: &[&str]) -> Self;
        fn timezone(self, tz: &str) -> Self;
        fn location(self, l: &str) -> Self;
    }

    impl ProfileExt for Profile {
        fn department(mut self, d: &str) -> Self {
            self.department = Some(d.into());
            self
        }
        fn topics(mut self, t: &[&str]) -> Self {
            self.topics = t.iter().map(|s| s.to_string()).collect();
            self
        }
        fn languages(mut self, l: &[&str]) -> Self {
            self.languages = l.iter().map(|s| s.to_string()).collect();
            self
        }
        fn timezone(mut self, tz: &str) -> Self {
            self.timezone = Some(tz.into());
            self
        }
        fn location(mut self, l: &str) -> Self {
            self.location = Some(l.into());
            self
        }
    }

    /// Scores candidates through the same batch glue the exported plugin uses.
    pub fn score<M: Matcher>(
        programme: &ProgrammeContext,
        mentors: &[Profile],
        mentees: &[Profile],
        candidates: &[Candidate],
    ) -> Result<Vec<Verdict>, String> {
        crate::matcher::run_score::<M>(Batch::new(programme, mentors, mentees, candidates))
    }

    /// Explains candidates through the same batch glue the exported plugin uses.
    pub fn explain<M: Matcher>(
        programme: &ProgrammeContext,
        mentors: &[Profile],
        mentees: &[Profile],
        candidates: &[Candidate],
    ) -> Result<Vec<Explanation>, String> {
        crate::matcher::run_explain::<M>(Batch::new(programme, mentors, mentees, candidates))
    }
}
