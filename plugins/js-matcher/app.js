// A matcher in JavaScript, built with componentize-js against plugin-sdk/wit/upward.wit: shared topics weighted by
// the programme's `shared_topics` weight; a mentor not junior to the mentee is vetoed. Scores are finite and >= 0.

function sharedTopics(programme, mentor, mentee) {
  const weight = new Map(programme.weights).get("shared_topics") ?? 1.0;
  return mentor.topics.filter((topic) => mentee.topics.includes(topic)).length * weight;
}

export const matching = {
  score(programme, mentors, mentees, candidates) {
    return candidates.map(([i, j]) =>
      mentors[i].level < mentees[j].level
        ? { tag: "score", val: sharedTopics(programme, mentors[i], mentees[j]) }
        : { tag: "veto", val: "the mentor must be junior to the mentee" });
  },
  explain(programme, mentors, mentees, candidates) {
    return candidates.map(([i, j]) => {
      const score = sharedTopics(programme, mentors[i], mentees[j]);
      return { score, factors: [{ name: "shared_topics", value: 1.0, weight: score, contribution: score }] };
    });
  },
};
