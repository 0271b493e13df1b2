//! A survey scorer: turns a survey's responses into named scores (here, the mean of every numeric question).

use upward_plugin_sdk::scorer::{AnswerValue, NamedScore, Question, Response, SurveyScorer};

pub struct Plugin;

impl SurveyScorer for Plugin {
    fn score(questions: &[Question], responses: &[Response]) -> Result<Vec<NamedScore>, String> {
        Ok(questions
            .iter()
            .map(|q| {
                let numbers: Vec<f64> = responses
                    .iter()
                    .filter_map(|r| match r.answer(&q.id) {
                        Some(AnswerValue::Number(n)) => Some(*n as f64),
                        _ => None,
                    })
                    .collect();
                NamedScore {
                    name: format!("mean.{}", q.id),
                    label: format!("Mean: {}", q.prompt),
                    value: (!numbers.is_empty()).then(|| numbers.iter().sum::<f64>() / numbers.len() as f64),
                    answers: numbers.len() as u64,
                }
            })
            .collect())
    }
}

upward_plugin_sdk::export_survey_scorer!(Plugin);

#[cfg(test)]
mod tests {
    use super::Plugin;
    use upward_plugin_sdk::scorer::{Answer, AnswerValue, Question, QuestionKind, Response, SurveyScorer};

    #[test]
    fn numeric_answers_are_averaged() {
        let question = Question { id: "useful".into(), kind: QuestionKind::Likert, prompt: "Useful?".into(), options: vec![] };
        let answer = |n| Response {
            request_id: format!("r{n}"),
            answers: vec![Answer { question_id: "useful".into(), value: AnswerValue::Number(n) }],
        };
        let scores = Plugin::score(&[question], &[answer(4), answer(5)]).unwrap();
        assert_eq!(scores[0].value, Some(4.5));
        assert_eq!(scores[0].answers, 2);
    }
}
