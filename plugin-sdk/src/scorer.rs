//! The `survey-scorer` world: implement [`SurveyScorer`] and export it with [`crate::export_survey_scorer!`]. A
//! `follow_up` survey's input also holds the respondents' baseline answers ([`BASELINE_PREFIX`], [`Response::baseline`]).

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "survey-scorer",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "__export_survey_scorer_world",
        default_bindings_module: "upward_plugin_sdk::scorer::bindings",
    });
}

pub use bindings::upward::plugin::types::{Answer, AnswerValue, NamedScore, Question, QuestionKind, Response};

/// The prefix of the baseline questions and answers a `follow_up` survey's scorer receives: the programme's
/// `baseline` questions arrive as `baseline.<id>`, and each response carries its respondent's first baseline answer
/// to each under that id. Survey question ids never hold a `.`, so they cannot collide.
pub const BASELINE_PREFIX: &str = "baseline.";

impl Response {
    /// This response's answer to `question_id`.
    pub fn answer(&self, question_id: &str) -> Option<&AnswerValue> {
        self.answers
            .iter()
            .find(|a| a.question_id == question_id)
            .map(|a| &a.value)
    }

    /// In a `follow_up` survey: the respondent's baseline answer to `question_id` (the survey's own id, without the
    /// prefix), when they gave one.
    pub fn baseline(&self, question_id: &str) -> Option<&AnswerValue> {
        self.answers
            .iter()
            .find(|a| {
                a.question_id
                    .strip_prefix(BASELINE_PREFIX)
                    .is_some_and(|id| id == question_id)
            })
            .map(|a| &a.value)
    }
}

impl Question {
    /// Whether this is a baseline question added to a `follow_up` survey's input (`baseline.<id>`).
    pub fn is_baseline(&self) -> bool {
        self.id.starts_with(BASELINE_PREFIX)
    }
}

/// Turns a survey's questions and responses into named scores.
pub trait SurveyScorer {
    fn score(questions: &[Question], responses: &[Response]) -> Result<Vec<NamedScore>, String>;
}

/// Exports a [`SurveyScorer`] as the component's `survey-scorer` world.
#[macro_export]
macro_rules! export_survey_scorer {
    ($scorer:ty) => {
        // Natively the plugin is still "used", so its author sees no dead-code warnings under `cargo test`.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$scorer as $crate::scorer::SurveyScorer>::score;
        };
        // Natively (`cargo test`) there is no component to export to: the harness calls the trait directly.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::scorer::{NamedScore, Question, Response};

            struct UpwardScorerExport;

            impl $crate::scorer::bindings::exports::upward::plugin::scoring::Guest for UpwardScorerExport {
                fn score(questions: Vec<Question>, responses: Vec<Response>) -> Result<Vec<NamedScore>, String> {
                    <$scorer as $crate::scorer::SurveyScorer>::score(&questions, &responses)
                }
            }

            $crate::scorer::bindings::__export_survey_scorer_world!(UpwardScorerExport with_types_in $crate::scorer::bindings);
        };
    };
}
