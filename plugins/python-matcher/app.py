"""A matcher plugin in Python, built with componentize-py against plugin-sdk/wit/upward.wit: shared topics, a real
seniority gap and different departments, weighted by the programme's `matching.weights`; a `same_site_bonus` from the
plugin's configuration. Every score is finite and >= 0; a mentor not junior to the mentee is vetoed.

    componentize-py -d ../../plugin-sdk/wit -w matcher componentize app -o python_matcher.wasm
"""

import json
from typing import List, Tuple

from wit_world import exports
from wit_world.imports import config, types


def _settings() -> float:
    try:
        return float(json.loads(config.get() or "{}").get("same_site_bonus", 0.0))
    except (ValueError, TypeError, AttributeError):
        return 0.0


def _factors(programme: types.ProgrammeContext, mentor: types.Profile, mentee: types.Profile, bonus: float) -> List[types.Factor]:
    weights = dict(programme.weights)
    fewer = min(len(mentor.topics), len(mentee.topics))
    shared = len(set(mentor.topics) & set(mentee.topics)) / fewer if fewer else 0.0
    gap = min(max(mentee.level - mentor.level, 0) / 6.0, 1.0)
    departments = 1.0 if mentor.department and mentee.department and mentor.department.lower() != mentee.department.lower() else 0.0
    site = 1.0 if mentor.location and mentor.location == mentee.location else 0.0
    parts = [
        ("shared_topics", shared, weights.get("shared_topics", 1.0)),
        ("level_gap", gap, weights.get("level_gap", 0.5)),
        ("cross_department", departments, weights.get("cross_department", 0.5)),
        ("same_site", site, bonus),
    ]
    return [types.Factor(name, value, weight, value * weight) for name, value, weight in parts]


class Matching(exports.Matching):
    def score(self, programme: types.ProgrammeContext, mentors: List[types.Profile], mentees: List[types.Profile],
              candidates: List[Tuple[int, int]]) -> List[types.Verdict]:
        bonus = _settings()
        verdicts: List[types.Verdict] = []
        for i, j in candidates:
            mentor, mentee = mentors[i], mentees[j]
            if mentor.level >= mentee.level:
                verdicts.append(types.Verdict_Veto("the mentor must be junior to the mentee"))
            else:
                total = sum(f.contribution for f in _factors(programme, mentor, mentee, bonus))
                verdicts.append(types.Verdict_Score(max(total, 0.0)))
        return verdicts

    def explain(self, programme: types.ProgrammeContext, mentors: List[types.Profile], mentees: List[types.Profile],
                candidates: List[Tuple[int, int]]) -> List[types.Explanation]:
        bonus = _settings()
        explained: List[types.Explanation] = []
        for i, j in candidates:
            factors = _factors(programme, mentors[i], mentees[j], bonus)
            explained.append(types.Explanation(max(sum(f.contribution for f in factors), 0.0), factors))
        return explained
