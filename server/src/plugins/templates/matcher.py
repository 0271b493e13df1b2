"""A matcher in Python: scores each candidate pair (a finite score >= 0, or a veto); the engine picks the optimal
assignment. Configuration (`{"topic_weight": 1.0}`) comes from the organisation: `PATCH /v1/plugins/{id}`."""

import json
from typing import List, Tuple

from wit_world import exports
from wit_world.imports import config, types


def _topic_weight() -> float:
    try:
        return float(json.loads(config.get() or "{}").get("topic_weight", 1.0))
    except (ValueError, TypeError, AttributeError):
        return 1.0


def _score(mentor: types.Profile, mentee: types.Profile, weight: float) -> float:
    return len(set(mentor.topics) & set(mentee.topics)) * weight


class Matching(exports.Matching):
    def score(self, programme: types.ProgrammeContext, mentors: List[types.Profile], mentees: List[types.Profile],
              candidates: List[Tuple[int, int]]) -> List[types.Verdict]:
        weight = _topic_weight()
        verdicts: List[types.Verdict] = []
        for i, j in candidates:
            if mentors[i].level >= mentees[j].level:
                verdicts.append(types.Verdict_Veto("the mentor must be junior to the mentee"))
            else:
                verdicts.append(types.Verdict_Score(max(_score(mentors[i], mentees[j], weight), 0.0)))
        return verdicts

    def explain(self, programme: types.ProgrammeContext, mentors: List[types.Profile], mentees: List[types.Profile],
                candidates: List[Tuple[int, int]]) -> List[types.Explanation]:
        weight = _topic_weight()
        explained = []
        for i, j in candidates:
            value = max(_score(mentors[i], mentees[j], weight), 0.0)
            explained.append(types.Explanation(value, [types.Factor("shared_topics", 1.0, weight, value)]))
        return explained
