//! A matcher: scores each candidate pair (a finite score >= 0, or a veto); the engine picks the optimal assignment.
//! Configuration (`{"topic_weight": 1.0}`) comes from the organisation: `PATCH /v1/plugins/{id}`.

use serde::Deserialize;
use upward_plugin_sdk::matcher::{Matcher, Profile, ProgrammeContext, Verdict};

#[derive(Deserialize)]
struct Config {
    #[serde(default = "one")]
    topic_weight: f64,
}

fn one() -> f64 {
    1.0
}

pub struct Plugin;

impl Matcher for Plugin {
    fn score(_programme: &ProgrammeContext, mentor: &Profile, mentee: &Profile) -> Verdict {
        if mentor.level >= mentee.level {
            return Verdict::Veto("the mentor must be junior to the mentee".into());
        }
        let config: Config = upward_plugin_sdk::config().unwrap_or(Config { topic_weight: 1.0 });
        let shared = mentor.topics.iter().filter(|t| mentee.topics.contains(t)).count() as f64;
        Verdict::Score(shared * config.topic_weight)
    }
}

upward_plugin_sdk::export_matcher!(Plugin);

#[cfg(test)]
mod tests {
    use super::Plugin;
    use upward_plugin_sdk::matcher::Verdict;
    use upward_plugin_sdk::testing::{self, ProfileExt};

    #[test]
    fn shared_topics_score_and_seniors_are_vetoed() {
        testing::set_config(r#"{"topic_weight": 2.0}"#);
        let programme = testing::programme(&["ai"]);
        let junior = testing::profile("ana", 2).topics(&["ai"]);
        let senior = testing::profile("sam", 9).topics(&["ai"]);
        let verdicts = testing::score::<Plugin>(&programme, &[junior.clone()], &[senior.clone()], &[(0, 0)]).unwrap();
        assert_eq!(verdicts, [Verdict::Score(2.0)]);
        let vetoed = testing::score::<Plugin>(&programme, &[senior], &[junior], &[(0, 0)]).unwrap();
        assert!(matches!(vetoed[0], Verdict::Veto(_)));
    }
}
