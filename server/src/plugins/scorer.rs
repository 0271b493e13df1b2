//! Survey-scorer plugins: [`ScorerPlugin`] turns a survey's questions and responses into named scores in a fresh,
//! limited instance, and the JSON shape of its input and output for dry runs and `upward plugin run`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wasmtime::component::{Component, HasSelf};

use super::wit::scorer::{SurveyScorer, SurveyScorerPre};
use super::wit::types;
use super::{Host, Invocation, Limits, PluginError, Sandbox, State, Usage, invoke};

fn prepare(host: &Host, component: &Component) -> Result<SurveyScorerPre<State>, PluginError> {
    let mut linker = host.linker()?;
    SurveyScorer::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(|e| PluginError::Compile(e.to_string()))?;
    let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
        world: "survey-scorer",
        message: format!("{e:#}"),
    };
    SurveyScorerPre::new(linker.instantiate_pre(component).map_err(wrong)?).map_err(wrong)
}

/// Checks that the component links as a survey scorer.
pub fn check(host: &Host, component: &Component) -> Result<(), PluginError> {
    prepare(host, component).map(|_| ())
}

pub struct ScorerPlugin {
    engine: wasmtime::Engine,
    pre: SurveyScorerPre<State>,
    limits: Limits,
    config: String,
}

impl ScorerPlugin {
    pub fn new(host: &Host, component: &Component, limits: Limits, config: String) -> Result<Self, PluginError> {
        Ok(ScorerPlugin {
            engine: host.engine().clone(),
            pre: prepare(host, component)?,
            limits,
            config,
        })
    }

    /// Scores one survey; the invocation's record comes back with the result.
    pub fn run(&self, input: &ScorerInput) -> (Result<ScorerOutput, PluginError>, Invocation) {
        let questions: Vec<types::Question> = input.questions.iter().map(QuestionDoc::lower).collect();
        let responses: Vec<types::Response> = input.responses.iter().map(ResponseDoc::lower).collect();
        let (result, usage): (Result<Vec<types::NamedScore>, PluginError>, Usage) = invoke(
            Sandbox {
                engine: &self.engine,
                limits: &self.limits,
                config: self.config.clone(),
                network: None,
            },
            responses.len().max(1),
            |store| self.pre.instantiate(store),
            |s, store| s.upward_plugin_scoring().call_score(store, &questions, &responses),
            |scores| scores.iter().map(|s| 24 + s.name.len() + s.label.len()).sum(),
        );
        let result = result.and_then(|scores| {
            let mut out = Vec::with_capacity(scores.len());
            for s in scores {
                if let Some(v) = s.value
                    && !v.is_finite()
                {
                    return Err(PluginError::Malformed(format!(
                        "score `{}` is not a finite number",
                        s.name
                    )));
                }
                if s.name.is_empty() {
                    return Err(PluginError::Malformed("a score has an empty name".into()));
                }
                out.push(NamedScoreDoc {
                    name: s.name,
                    label: s.label,
                    value: s.value,
                    answers: s.answers,
                });
            }
            Ok(ScorerOutput { scores: out })
        });
        let record = Invocation::of(&result, usage);
        (result, record)
    }
}

/// A survey scorer's input as JSON.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "questions": [{"id": "recommend", "kind": "nps", "prompt": "Would you recommend the programme?", "options": []}],
    "responses": [{"request_id": "r1", "answers": [{"question_id": "recommend", "number": 9}]}]
}))]
pub struct ScorerInput {
    pub questions: Vec<QuestionDoc>,
    pub responses: Vec<ResponseDoc>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKindDoc {
    Nps,
    Likert,
    SingleChoice,
    Text,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionDoc {
    pub id: String,
    pub kind: QuestionKindDoc,
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub options: Vec<String>,
}

impl QuestionDoc {
    fn lower(&self) -> types::Question {
        types::Question {
            id: self.id.clone(),
            kind: match self.kind {
                QuestionKindDoc::Nps => types::QuestionKind::Nps,
                QuestionKindDoc::Likert => types::QuestionKind::Likert,
                QuestionKindDoc::SingleChoice => types::QuestionKind::SingleChoice,
                QuestionKindDoc::Text => types::QuestionKind::Text,
            },
            prompt: self.prompt.clone(),
            options: self.options.clone(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseDoc {
    pub request_id: String,
    pub answers: Vec<AnswerDoc>,
}

/// One answer: `number` (nps, likert), `choice` (single_choice) or `text`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerDoc {
    pub question_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl ResponseDoc {
    fn lower(&self) -> types::Response {
        types::Response {
            request_id: self.request_id.clone(),
            answers: self
                .answers
                .iter()
                .map(|a| types::Answer {
                    question_id: a.question_id.clone(),
                    value: match (&a.number, &a.choice, &a.text) {
                        (Some(n), _, _) => types::AnswerValue::Number(*n),
                        (None, Some(c), _) => types::AnswerValue::Choice(c.clone()),
                        (None, None, t) => types::AnswerValue::Text(t.clone().unwrap_or_default()),
                    },
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"scores": [{"name": "nps", "label": "Net promoter score", "value": 100.0, "answers": 1}]}))]
pub struct ScorerOutput {
    pub scores: Vec<NamedScoreDoc>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, ToSchema)]
pub struct NamedScoreDoc {
    pub name: String,
    pub label: String,
    pub value: Option<f64>,
    pub answers: u64,
}
