//! Role reversion: the senior side slipping back into advising their junior mentor instead of listening — the failure
//! reverse mentoring is most warned against. A built-in pulse, sent through the ordinary survey engine to the mentor
//! after each held session, asks who did most of the talking and whether the conversation kept to the agreed topics.
//! When the mentor says the mentee did most of the talking in `risk.role_reversion_in_a_row` pulses running (default
//! 2), the pair is at risk with the reason `role_reversion` (and `pair.at_risk` goes out as for the other reasons); a
//! pulse saying otherwise resets the count. The answers stay with the survey engine: the mentee sees only the reason.

use sea_orm::ConnectionTrait;

use super::programmes;
use super::surveys::{self, Audience, Milestone, Pulse, Question, QuestionKind, Survey, SurveyRequest};
use super::{Actor, DomainResult};
use crate::store::{self, Scope};
use uuid::Uuid;

/// Question ids starting with this are the pulse's own; other surveys may not use them.
pub const QUESTION_PREFIX: &str = "role_reversion_";
pub const TALKING: &str = "role_reversion_talking";
pub const ON_TOPIC: &str = "role_reversion_on_topic";
/// The answer to `TALKING` that reports reversion.
pub const MENTEE_TALKED: &str = "My mentee";

/// The pulse's questions.
pub fn questions() -> Vec<Question> {
    vec![
        Question {
            id: TALKING.into(),
            kind: QuestionKind::SingleChoice,
            prompt: "Who did most of the talking in this session?".into(),
            options: vec!["Me".into(), "About even".into(), MENTEE_TALKED.into()],
            required: true,
        },
        Question {
            id: ON_TOPIC.into(),
            kind: QuestionKind::SingleChoice,
            prompt: "Did the conversation keep to the topics you agreed?".into(),
            options: vec!["Yes".into(), "Partly".into(), "No".into()],
            required: true,
        },
    ]
}

/// How many of the latest answers, in a row, said the mentee did most of the talking.
pub fn streak<'a>(talking: impl DoubleEndedIterator<Item = Option<&'a str>>) -> i32 {
    talking
        .rev()
        .take_while(|choice| *choice == Some(MENTEE_TALKED))
        .count() as i32
}

/// `POST /v1/programmes/{id}/pulses/role-reversion`: adds the pulse to a programme (admins and its managers). A
/// programme has at most one active pulse: asking again returns it (`false`: not created now).
pub async fn enable<C: ConnectionTrait>(
    scope: &Scope<'_, C>,
    actor: Actor,
    programme_id: Uuid,
) -> DomainResult<(Survey, bool)> {
    let programme = programmes::managed_open(scope, actor, programme_id).await?;
    if let Some(existing) = scope
        .active_surveys(programme.id, Milestone::AfterEachSession)
        .await?
        .into_iter()
        .find(|s| s.pulse == Some(Pulse::RoleReversion))
    {
        return Ok((existing, false));
    }
    let now = store::now();
    let survey = Survey {
        id: store::new_id(),
        programme_id: programme.id,
        title: "After the session: who did the talking?".into(),
        milestone: Milestone::AfterEachSession,
        audience: Audience::Mentors,
        questions: questions(),
        active: true,
        pulse: Some(Pulse::RoleReversion),
        measure: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    Ok((surveys::insert(scope, survey).await?, true))
}

/// After any answer: when it was the mentor answering the pulse, the pair's commitment (and so its risk) is
/// recomputed in the same transaction.
pub async fn on_response<C: ConnectionTrait>(scope: &Scope<'_, C>, request: &SurveyRequest) -> DomainResult<()> {
    if !request.questions.iter().any(|q| q.id == TALKING) {
        return Ok(());
    }
    let Some(programme) = scope.programme(request.programme_id).await? else {
        return Ok(());
    };
    super::pairs::refresh_commitment(scope, &programme, request.pair_id).await?;
    Ok(())
}

/// The pair's current streak, from the mentor's pulse answers.
pub async fn streak_of<C: ConnectionTrait>(scope: &Scope<'_, C>, pair_id: Uuid, mentor: Uuid) -> DomainResult<i32> {
    let answers = scope.pair_answers(pair_id, TALKING).await?;
    Ok(streak(
        answers
            .iter()
            .filter(|(_, who, _)| *who == mentor)
            .map(|(_, _, choice)| choice.as_deref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_answers_in_a_row_count() {
        let answers = [Some("My mentee"), Some("Me"), Some("My mentee"), Some("My mentee")];
        assert_eq!(streak(answers.into_iter()), 2);
        let answers = [Some("My mentee"), Some("My mentee"), Some("About even")];
        assert_eq!(streak(answers.into_iter()), 0);
        assert_eq!(streak(std::iter::empty()), 0);
    }
}
