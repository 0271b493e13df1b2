"""A survey scorer in Python: turns a survey's responses into named scores (here, the mean of every numeric
question)."""

from typing import List

from wit_world import exports
from wit_world.imports import types


class Scoring(exports.Scoring):
    def score(self, questions: List[types.Question], responses: List[types.Response]) -> List[types.NamedScore]:
        scores = []
        for question in questions:
            numbers = [
                answer.value.value
                for response in responses
                for answer in response.answers
                if answer.question_id == question.id and isinstance(answer.value, types.AnswerValue_Number)
            ]
            mean = sum(numbers) / len(numbers) if numbers else None
            scores.append(types.NamedScore(f"mean.{question.id}", f"Mean: {question.prompt}", mean, len(numbers)))
        return scores
