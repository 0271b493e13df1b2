//! Survey scores from a programme's survey-scorer plugin, next to the built-in ones. A response never waits for a
//! plugin: answering marks the survey's plugin scores stale in the response's transaction, and a background job
//! computes them on the blocking pool, records the invocation, and stores the scores — or the failure, visible on
//! the scores and in the plugin's invocations, while the responses stay stored. A change of scorer (another release
//! named by the programme, or the release's configuration) marks them stale again; a failure is retried every few
//! minutes, and at once when anything changes. A `follow_up` survey's scorer also sees each respondent's `baseline`
//! answers, as `baseline.<question id>` (see [`add_baselines`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::plugins::{self, BUILTIN, PluginState, Purpose};
use super::programmes::Programme;
use super::surveys::{Measure, QuestionKind, Score, Survey};
use super::{DomainError, DomainResult};
use crate::config::Config;
use crate::plugins::Host;
use crate::plugins::run::{self, Input};
use crate::plugins::scorer::{AnswerDoc, QuestionDoc, QuestionKindDoc, ResponseDoc, ScorerInput, ScorerOutput};
use crate::store::{self, Db, Scope};

/// Where a survey's plugin scores stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScoresState {
    /// Nothing computed yet (no response since the scorer was named).
    Pending,
    /// A response arrived or the scorer changed; new scores are being computed (`scores` are the previous ones).
    Stale,
    /// Computed from every response so far.
    Fresh,
    /// The scorer failed (`error`); `scores` are the last good ones. Retried every few minutes and whenever the
    /// scorer changes; no response is lost.
    Failed,
}

/// The programme's plugin scorer's scores of one survey.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "scorer": "weighted-scorer@1.0.0",
    "state": "fresh",
    "responses": 36,
    "scores": [{"name": "composite", "label": "Weighted composite (0–100)", "value": 81.5, "answers": 72}],
    "computed_at": "2026-11-22T09:30:02Z",
    "error": null
}))]
pub struct PluginScores {
    /// The release named by the programme's `survey_scorer`.
    pub scorer: String,
    pub state: ScoresState,
    /// How many responses `scores` rest on.
    pub responses: u64,
    pub scores: Vec<Score>,
    pub computed_at: Option<DateTime<Utc>>,
    /// Why the last computation failed (`failed` only).
    pub error: Option<String>,
}

/// A response to `survey_id` was stored: its plugin scores are stale (nothing to do under the built-in scorer).
pub async fn on_response<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    survey_id: Uuid,
    programme_id: Uuid,
) -> DomainResult<()> {
    if let Some(programme) = scope.programme(programme_id).await?
        && programme.survey_scorer != BUILTIN
    {
        scope.mark_scores_stale(survey_id, programme_id).await?;
        // A baseline answer is part of the follow-up surveys' input too.
        if scope
            .survey(survey_id)
            .await?
            .is_some_and(|s| s.measure == Some(Measure::Baseline))
        {
            for survey in scope.list_surveys(programme_id, None, 10_000).await? {
                if survey.measure == Some(Measure::FollowUp) {
                    scope.mark_scores_stale(survey.id, programme_id).await?;
                }
            }
        }
    }
    Ok(())
}

/// The programme's scorer changed: every survey's plugin scores are computed again.
pub async fn on_scorer_changed<C: ConnectionTrait>(scope: &Scope<'_, C>, programme: &Programme) -> DomainResult<()> {
    if programme.survey_scorer == BUILTIN {
        return Ok(());
    }
    let mut after = None;
    loop {
        let surveys = scope.list_surveys(programme.id, after, 200).await?;
        let Some(last) = surveys.last() else { break };
        after = Some(last.id);
        for survey in &surveys {
            scope.mark_scores_stale(survey.id, programme.id).await?;
        }
    }
    Ok(())
}

/// A release's configuration changed: the programmes scoring with it compute again.
pub async fn on_plugin_changed<C: ConnectionTrait>(scope: &Scope<'_, C>, reference: &str) -> DomainResult<()> {
    for id in scope.programmes_using_plugin(reference).await? {
        if let Some(programme) = scope.programme(id).await?
            && programme.survey_scorer == reference
        {
            on_scorer_changed(scope, &programme).await?;
        }
    }
    Ok(())
}

/// The plugin scores of a survey, when the programme names a plugin scorer.
pub async fn view<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme: &Programme,
    survey_id: Uuid,
) -> DomainResult<Option<PluginScores>> {
    if programme.survey_scorer == BUILTIN {
        return Ok(None);
    }
    let stored = scope.stored_scores(survey_id).await?;
    Ok(Some(match stored {
        None => PluginScores {
            scorer: programme.survey_scorer.clone(),
            state: ScoresState::Pending,
            responses: 0,
            scores: Vec::new(),
            computed_at: None,
            error: None,
        },
        Some(s) => PluginScores {
            scorer: programme.survey_scorer.clone(),
            state: match s.state.as_str() {
                "fresh" if s.scorer.as_deref() == Some(programme.survey_scorer.as_str()) => ScoresState::Fresh,
                "failed" => ScoresState::Failed,
                _ if s.computed_at.is_none() && s.state != "failed" => ScoresState::Pending,
                _ => ScoresState::Stale,
            },
            responses: s.responses.max(0) as u64,
            scores: s
                .scores
                .and_then(|v| serde_json::from_value::<ScorerOutput>(v).ok())
                .map(|o| {
                    o.scores
                        .into_iter()
                        .map(|n| Score {
                            name: n.name,
                            label: n.label,
                            value: n.value,
                            answers: n.answers,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            computed_at: s.computed_at,
            error: s.error,
        },
    }))
}

fn question_doc(q: &super::surveys::Question) -> QuestionDoc {
    QuestionDoc {
        id: q.id.clone(),
        kind: match q.kind {
            QuestionKind::Nps => QuestionKindDoc::Nps,
            QuestionKind::Likert => QuestionKindDoc::Likert,
            QuestionKind::SingleChoice => QuestionKindDoc::SingleChoice,
            QuestionKind::Text => QuestionKindDoc::Text,
        },
        prompt: q.prompt.clone(),
        options: q.options.clone(),
    }
}

/// Computes the stale plugin scores (and failed ones due for a retry); answers how many it computed.
pub async fn compute_due(db: &Db, host: Arc<Host>, config: &Config) -> DomainResult<usize> {
    let retry_failed_before = store::now() - chrono::Duration::minutes(5);
    let due = db.scores_to_compute(retry_failed_before, 50).await?;
    let mut computed = 0;
    for (organisation_id, survey_id, programme_id, generation) in due {
        compute(db, &host, config, organisation_id, survey_id, programme_id, generation).await?;
        computed += 1;
    }
    Ok(computed)
}

async fn compute(
    db: &Db,
    host: &Arc<Host>,
    config: &Config,
    organisation_id: Uuid,
    survey_id: Uuid,
    programme_id: Uuid,
    generation: i32,
) -> DomainResult<()> {
    let reader = Scope::new(db.reader(), organisation_id);
    let (Some(programme), Some(survey)) = (reader.programme(programme_id).await?, reader.survey(survey_id).await?)
    else {
        return Ok(());
    };
    let reference = programme.survey_scorer.clone();
    let mut responses = reader.survey_responses(survey_id).await?;
    let mut questions = survey_questions(&survey);
    if survey.measure == Some(Measure::FollowUp) {
        add_baselines(&reader, programme_id, &mut questions, &mut responses).await?;
    }
    let count = responses.len() as i64;
    let finish = async |failed: bool, scores: Option<serde_json::Value>, error: Option<String>, plugin| {
        let txn = db.begin().await?;
        let scope = Scope::new(&txn, organisation_id);
        if let Some((plugin, invocation)) = plugin {
            plugins::record(&scope, plugin, Purpose::SurveyScores, Some(survey_id), vec![invocation]).await?;
        }
        scope
            .finish_scores(survey_id, generation, failed, &reference, scores, count, error)
            .await?;
        txn.commit().await.map_err(store::StoreError::from)?;
        Ok::<(), DomainError>(())
    };
    if reference == BUILTIN {
        return finish(false, None, None, None).await;
    }
    let plugin = match reference.split_once('@') {
        Some((name, version)) => reader.plugin_by_reference(name, version).await?,
        None => None,
    };
    let Some(plugin) = plugin.filter(|p| p.state == PluginState::Ready) else {
        let error = format!("the survey scorer {reference} is not a ready plugin release of this organisation");
        return finish(true, None, Some(error), None).await;
    };
    let limits = plugins::effective_limits(&reader, config, &plugin).await?;
    let component = plugins::loaded(&reader, host, &plugin).await?;
    let input = Input::Scorer(ScorerInput { questions, responses });
    let (host, plugin_config, name) = (host.clone(), plugin.config.to_string(), reference.clone());
    let network = crate::plugins::Network {
        allowed_hosts: Vec::new(),
        secrets: Default::default(),
    };
    let ran = tokio::task::spawn_blocking(move || {
        run::invoke(&host, &name, &component, input, limits, plugin_config, network)
    })
    .await
    .map_err(|e| DomainError::Store(store::StoreError::Corrupt(format!("a plugin task stopped: {e}"))))?;
    match ran {
        Ok((Ok(output), invocation)) => match serde_json::from_value::<ScorerOutput>(output.clone()) {
            Ok(_) => finish(false, Some(output), None, Some((&plugin, invocation))).await,
            Err(e) => {
                finish(
                    true,
                    None,
                    Some(format!("malformed output: {e}")),
                    Some((&plugin, invocation)),
                )
                .await
            }
        },
        Ok((Err(e), invocation)) => {
            let error = format!("{} ({})", e, e.outcome());
            finish(true, None, Some(error), Some((&plugin, invocation))).await
        }
        Err(e) => finish(true, None, Some(e.to_string()), None).await,
    }
}

fn survey_questions(survey: &Survey) -> Vec<QuestionDoc> {
    survey.questions.iter().map(question_doc).collect()
}

/// The prefix of a baseline question's id, and of its answers' ids, in a follow-up survey's scorer input. Survey
/// question ids cannot hold a `.`, so these never collide with the survey's own.
pub const BASELINE_PREFIX: &str = "baseline.";

/// Gives a follow-up survey's scorer the pairs of answers: the programme's baseline questions join `questions` as
/// `baseline.<id>`, and each follow-up response carries its respondent's baseline answers under those ids (their
/// first answer to each, as the change report pairs them) — the WIT contract unchanged, so every scorer written
/// against it still runs.
async fn add_baselines<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    programme_id: Uuid,
    questions: &mut Vec<QuestionDoc>,
    responses: &mut [ResponseDoc],
) -> DomainResult<()> {
    let baselines: Vec<Survey> = scope
        .list_surveys(programme_id, None, 10_000)
        .await?
        .into_iter()
        .filter(|s| s.measure == Some(Measure::Baseline))
        .collect();
    let mut asked = HashSet::new();
    for q in baselines.iter().flat_map(|s| s.questions.iter()) {
        if asked.insert(q.id.clone()) {
            let mut doc = question_doc(q);
            doc.id = format!("{BASELINE_PREFIX}{}", q.id);
            questions.push(doc);
        }
    }
    let mut baseline_responses = Vec::new();
    for survey in &baselines {
        baseline_responses.extend(scope.survey_responses(survey.id).await?);
    }
    let request_id = |r: &ResponseDoc| r.request_id.parse::<Uuid>().ok();
    let respondents = scope
        .respondents(responses.iter().chain(&baseline_responses).filter_map(request_id))
        .await?;
    // participant → question → (when, the answer): the first baseline answer to each question.
    let mut first: HashMap<Uuid, HashMap<String, (DateTime<Utc>, AnswerDoc)>> = HashMap::new();
    for response in &baseline_responses {
        let Some(&(participant, at)) = request_id(response).and_then(|id| respondents.get(&id)) else {
            continue;
        };
        let answers = first.entry(participant).or_default();
        for answer in &response.answers {
            let slot = answers.entry(answer.question_id.clone());
            let earlier = match &slot {
                std::collections::hash_map::Entry::Occupied(o) => at < o.get().0,
                std::collections::hash_map::Entry::Vacant(_) => true,
            };
            if earlier {
                let mut answer = answer.clone();
                answer.question_id = format!("{BASELINE_PREFIX}{}", answer.question_id);
                slot.insert_entry((at, answer));
            }
        }
    }
    for response in responses.iter_mut() {
        let Some((participant, _)) = request_id(response).and_then(|id| respondents.get(&id)) else {
            continue;
        };
        if let Some(answers) = first.get(participant) {
            let mut baseline: Vec<AnswerDoc> = answers.values().map(|(_, a)| a.clone()).collect();
            baseline.sort_by(|a, b| a.question_id.cmp(&b.question_id));
            response.answers.extend(baseline);
        }
    }
    Ok(())
}
