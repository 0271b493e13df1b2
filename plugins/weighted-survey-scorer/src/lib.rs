//! A survey scorer: a `composite` score (0–100) weighting each numeric question (NPS 0–10, Likert 1–5, both scaled
//! to 0–100) by the configured weight (default 1), the NPS of every `nps` question, and the share of each option
//! of `single_choice` questions; in a `follow_up` survey, the mean `change.<question id>` of each numeric question
//! since the same people's baseline answers. Configuration: `{"weights": {"<question id>": 2.0}}`.

use std::collections::HashMap;

use serde::Deserialize;
use upward_plugin_sdk::scorer::{AnswerValue, NamedScore, Question, QuestionKind, Response, SurveyScorer};

#[derive(Default, Deserialize)]
struct Config {
    #[serde(default)]
    weights: HashMap<String, f64>,
}

struct WeightedScorer;

impl SurveyScorer for WeightedScorer {
    fn score(questions: &[Question], responses: &[Response]) -> Result<Vec<NamedScore>, String> {
        let config: Config = upward_plugin_sdk::config()?;
        let mut scores = Vec::new();
        let (mut weighted, mut total_weight, mut counted) = (0.0, 0.0, 0u64);
        for q in questions.iter().filter(|q| !q.is_baseline()) {
            let numbers: Vec<i32> = responses
                .iter()
                .filter_map(|r| match r.answer(&q.id) {
                    Some(AnswerValue::Number(n)) => Some(*n),
                    _ => None,
                })
                .collect();
            let scaled = |n: i32| match q.kind {
                QuestionKind::Nps => n as f64 * 10.0,
                _ => (n - 1) as f64 * 25.0,
            };
            match q.kind {
                QuestionKind::Nps | QuestionKind::Likert if !numbers.is_empty() => {
                    let weight = config.weights.get(&q.id).copied().unwrap_or(1.0);
                    let mean = numbers.iter().map(|&n| scaled(n)).sum::<f64>() / numbers.len() as f64;
                    weighted += mean * weight;
                    total_weight += weight;
                    counted += numbers.len() as u64;
                    let changes: Vec<f64> = responses
                        .iter()
                        .filter_map(|r| match (r.answer(&q.id), r.baseline(&q.id)) {
                            (Some(AnswerValue::Number(after)), Some(AnswerValue::Number(before))) => {
                                Some(f64::from(after - before))
                            }
                            _ => None,
                        })
                        .collect();
                    if !changes.is_empty() {
                        scores.push(NamedScore {
                            name: format!("change.{}", q.id),
                            label: format!("Change since the baseline: {}", q.prompt),
                            value: Some(changes.iter().sum::<f64>() / changes.len() as f64),
                            answers: changes.len() as u64,
                        });
                    }
                    if matches!(q.kind, QuestionKind::Nps) {
                        let promoters = numbers.iter().filter(|&&n| n >= 9).count() as f64;
                        let detractors = numbers.iter().filter(|&&n| n <= 6).count() as f64;
                        scores.push(NamedScore {
                            name: format!("nps.{}", q.id),
                            label: format!("NPS: {}", q.prompt),
                            value: Some((promoters - detractors) / numbers.len() as f64 * 100.0),
                            answers: numbers.len() as u64,
                        });
                    }
                }
                QuestionKind::SingleChoice => {
                    let chosen: Vec<&String> = responses
                        .iter()
                        .filter_map(|r| match r.answer(&q.id) {
                            Some(AnswerValue::Choice(c)) => Some(c),
                            _ => None,
                        })
                        .collect();
                    for option in &q.options {
                        let n = chosen.iter().filter(|c| **c == option).count();
                        scores.push(NamedScore {
                            name: format!("share.{}.{option}", q.id),
                            label: format!("{}: {option}", q.prompt),
                            value: (!chosen.is_empty()).then(|| n as f64 / chosen.len() as f64 * 100.0),
                            answers: chosen.len() as u64,
                        });
                    }
                }
                _ => {}
            }
        }
        scores.insert(
            0,
            NamedScore {
                name: "composite".into(),
                label: "Weighted composite (0–100)".into(),
                value: (total_weight > 0.0).then(|| weighted / total_weight),
                answers: counted,
            },
        );
        Ok(scores)
    }
}

upward_plugin_sdk::export_survey_scorer!(WeightedScorer);

#[cfg(test)]
mod tests {
    use super::WeightedScorer;
    use upward_plugin_sdk::scorer::{Answer, AnswerValue, Question, QuestionKind, Response, SurveyScorer};
    use upward_plugin_sdk::testing;

    fn question(id: &str, kind: QuestionKind) -> Question {
        Question {
            id: id.into(),
            kind,
            prompt: id.into(),
            options: Vec::new(),
        }
    }

    fn response(answers: &[(&str, i32)]) -> Response {
        Response {
            request_id: "r".into(),
            answers: answers
                .iter()
                .map(|(q, n)| Answer {
                    question_id: q.to_string(),
                    value: AnswerValue::Number(*n),
                })
                .collect(),
        }
    }

    #[test]
    fn the_composite_weights_each_question() {
        testing::set_config(r#"{"weights": {"recommend": 3}}"#);
        let questions = [
            question("recommend", QuestionKind::Nps),
            question("useful", QuestionKind::Likert),
        ];
        let responses = [
            response(&[("recommend", 10), ("useful", 5)]),
            response(&[("recommend", 8), ("useful", 3)]),
        ];
        let scores = WeightedScorer::score(&questions, &responses).unwrap();
        // recommend: mean 90 × 3; useful: mean 75 × 1 → (270 + 75) / 4.
        assert_eq!(scores[0].name, "composite");
        assert_eq!(scores[0].value, Some(86.25));
        assert_eq!(scores[1].name, "nps.recommend");
        assert_eq!(scores[1].value, Some(50.0));
    }

    #[test]
    fn a_follow_up_scores_the_change_since_each_persons_baseline() {
        testing::set_config("{}");
        let questions = [
            question("heard", QuestionKind::Likert),
            question("baseline.heard", QuestionKind::Likert),
        ];
        let responses = [
            response(&[("heard", 4), ("baseline.heard", 2)]),
            response(&[("heard", 5), ("baseline.heard", 4)]),
            response(&[("heard", 3)]), // no baseline: not in the change
        ];
        let scores = WeightedScorer::score(&questions, &responses).unwrap();
        let change = scores.iter().find(|s| s.name == "change.heard").unwrap();
        assert_eq!(change.value, Some(1.5));
        assert_eq!(change.answers, 2);
        // The composite is the follow-up's own: (75 + 100 + 50) / 3, the baseline answers left out.
        assert_eq!(scores[0].value, Some(75.0));
        assert!(!scores.iter().any(|s| s.name.contains("baseline")));
    }

    #[test]
    fn nothing_to_score_is_no_value() {
        testing::set_config("{}");
        let scores = WeightedScorer::score(&[question("recommend", QuestionKind::Nps)], &[]).unwrap();
        assert_eq!(scores[0].value, None);
    }
}
