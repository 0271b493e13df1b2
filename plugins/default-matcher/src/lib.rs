//! The built-in matching policy reimplemented as a plugin of the `matcher` world, on the plugin SDK: the same factors
//! (shared topics, cross-department, level gap, proximity, shared languages) with the programme's weights, so a test
//! can show both give identical scores.

use upward_plugin_sdk::matcher::{
    Batch, CrossDepartment, Explanation, Factor, Matcher, Profile, ProgrammeContext, Verdict,
};

struct DefaultMatcher;

/// The programme's weights, read once per batch.
struct Weights {
    shared_topics: f64,
    cross_department: f64,
    level_gap: f64,
    proximity: f64,
    shared_languages: f64,
}

impl Weights {
    fn of(programme: &ProgrammeContext) -> Weights {
        Weights {
            shared_topics: programme.weight("shared_topics"),
            cross_department: match programme.cross_department {
                CrossDepartment::Ignored => 0.0,
                _ => programme.weight("cross_department"),
            },
            level_gap: programme.weight("level_gap"),
            proximity: programme.weight("proximity"),
            shared_languages: programme.weight("shared_languages"),
        }
    }

    /// Each factor's value (0 to 1) with its weight, in the order the built-in policy sums them.
    fn weigh(
        &self,
        topics: f64,
        departments: f64,
        gap: f64,
        proximity: f64,
        languages: f64,
    ) -> [(&'static str, f64, f64); 5] {
        [
            ("shared_topics", topics, self.shared_topics),
            ("cross_department", departments, self.cross_department),
            ("level_gap", gap, self.level_gap),
            ("proximity", proximity, self.proximity),
            ("shared_languages", languages, self.shared_languages),
        ]
    }
}

/// Departments lower-cased once per profile (not once per candidate: allocation is the costly part in a guest).
fn departments(profiles: &[Profile]) -> Vec<Option<String>> {
    profiles
        .iter()
        .map(|p| p.department.as_ref().map(|d| d.to_lowercase()))
        .collect()
}

fn factors(
    w: &Weights,
    mentor: &Profile,
    mentee: &Profile,
    mentor_department: &Option<String>,
    mentee_department: &Option<String>,
) -> [(&'static str, f64, f64); 5] {
    let shared = mentor.topics.iter().filter(|t| mentee.topics.contains(t)).count();
    let fewer = mentor.topics.len().min(mentee.topics.len());
    let topics = if fewer == 0 { 0.0 } else { shared as f64 / fewer as f64 };
    let departments = match (mentor_department, mentee_department) {
        (Some(x), Some(y)) if x != y => 1.0,
        _ => 0.0,
    };
    // A real seniority gap brings a different view; beyond six levels it adds nothing more.
    let gap = ((mentee.level - mentor.level).max(0) as f64 / 6.0).min(1.0);
    let mut proximity = 0.0;
    if mentor.timezone.is_some() && mentor.timezone == mentee.timezone {
        proximity += 0.5;
    }
    if mentor.location.is_some() && mentor.location == mentee.location {
        proximity += 0.5;
    }
    let languages = if mentor.languages.iter().any(|l| mentee.languages.contains(l)) {
        1.0
    } else {
        0.0
    };
    w.weigh(topics, departments, gap, proximity, languages)
}

fn explanation(parts: [(&'static str, f64, f64); 5]) -> Explanation {
    Explanation {
        score: parts.iter().map(|(_, v, w)| v * w).sum(),
        factors: parts
            .iter()
            .map(|(name, value, weight)| Factor {
                name: name.to_string(),
                value: *value,
                weight: *weight,
                contribution: value * weight,
            })
            .collect(),
    }
}

/// A profile as the scorer needs it: ids instead of strings (0: absent), sets as bits.
struct Packed {
    level: i32,
    topics: u64,
    /// Each listed topic's bit, when a topic is listed twice: the plain path counts a mentor's repeats.
    repeated_topics: Option<Vec<u64>>,
    topic_count: usize,
    languages: u64,
    department: u32,
    timezone: u32,
    location: u32,
}

/// Strings to small ids, per batch.
#[derive(Default)]
struct Interner<'a> {
    ids: std::collections::HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        let next = self.ids.len() as u32 + 1;
        *self.ids.entry(s).or_insert(next)
    }

    /// The bit of `s`, or `None` past 64 distinct strings.
    fn bit(&mut self, s: &'a str) -> Option<u64> {
        let id = self.id(s);
        (id <= 64).then(|| 1u64 << (id - 1))
    }
}

impl Packed {
    fn both(mentors: &[Profile], mentees: &[Profile]) -> Option<(Vec<Packed>, Vec<Packed>)> {
        let departments: Vec<Option<String>> = mentors
            .iter()
            .chain(mentees)
            .map(|p| p.department.as_ref().map(|d| d.to_lowercase()))
            .collect();
        let (mut topics, mut languages, mut places) = (Interner::default(), Interner::default(), Interner::default());
        let mut packed = Vec::with_capacity(departments.len());
        for (p, department) in mentors.iter().chain(mentees).zip(&departments) {
            let (mut topic_bits, mut listed, mut repeated) = (0u64, Vec::with_capacity(p.topics.len()), false);
            for t in &p.topics {
                let bit = topics.bit(t)?;
                repeated |= topic_bits & bit != 0;
                topic_bits |= bit;
                listed.push(bit);
            }
            let mut language_bits = 0u64;
            for l in &p.languages {
                language_bits |= languages.bit(l)?;
            }
            packed.push(Packed {
                level: p.level,
                topics: topic_bits,
                repeated_topics: repeated.then_some(listed),
                topic_count: p.topics.len(),
                languages: language_bits,
                // Departments, time zones and locations share one id space: only equality matters.
                department: department.as_deref().map_or(0, |d| places.id(d)),
                timezone: p.timezone.as_deref().map_or(0, |tz| places.id(tz)),
                location: p.location.as_deref().map_or(0, |l| places.id(l)),
            });
        }
        let mentees = packed.split_off(mentors.len());
        Some((packed, mentees))
    }

    /// The same factors as [`factors`], from the packed profiles.
    fn factors(&self, w: &Weights, mentee: &Packed) -> [(&'static str, f64, f64); 5] {
        let shared = match &self.repeated_topics {
            None => (self.topics & mentee.topics).count_ones() as usize,
            Some(listed) => listed.iter().filter(|&&bit| mentee.topics & bit != 0).count(),
        };
        let fewer = self.topic_count.min(mentee.topic_count);
        let topics = if fewer == 0 { 0.0 } else { shared as f64 / fewer as f64 };
        let departments = if self.department != 0 && mentee.department != 0 && self.department != mentee.department {
            1.0
        } else {
            0.0
        };
        let gap = ((mentee.level - self.level).max(0) as f64 / 6.0).min(1.0);
        let mut proximity = 0.0;
        if self.timezone != 0 && self.timezone == mentee.timezone {
            proximity += 0.5;
        }
        if self.location != 0 && self.location == mentee.location {
            proximity += 0.5;
        }
        let languages = if self.languages & mentee.languages != 0 {
            1.0
        } else {
            0.0
        };
        w.weigh(topics, departments, gap, proximity, languages)
    }
}

impl Matcher for DefaultMatcher {
    fn score(programme: &ProgrammeContext, mentor: &Profile, mentee: &Profile) -> Verdict {
        let [md, td] = [mentor, mentee].map(|p| p.department.as_ref().map(|d| d.to_lowercase()));
        let parts = factors(&Weights::of(programme), mentor, mentee, &md, &td);
        Verdict::Score(parts.iter().map(|(_, v, w)| v * w).sum())
    }

    fn explain(programme: &ProgrammeContext, mentor: &Profile, mentee: &Profile) -> Explanation {
        let [md, td] = [mentor, mentee].map(|p| p.department.as_ref().map(|d| d.to_lowercase()));
        explanation(factors(&Weights::of(programme), mentor, mentee, &md, &td))
    }

    // Per batch: weights, and each profile reduced once to integers (interned departments, time zones and locations;
    // topic and language bitsets), so a candidate costs a few integer operations instead of string comparisons.
    // The factors are the same numbers as `factors` computes, summed in the same order.
    fn score_batch(batch: &Batch<'_>) -> Result<Vec<Verdict>, String> {
        let w = Weights::of(batch.programme);
        let Some((mentors, mentees)) = Packed::both(batch.mentors, batch.mentees) else {
            // More than 64 distinct topics or languages in the batch: the plain path.
            let (md, td) = (departments(batch.mentors), departments(batch.mentees));
            return batch
                .indices()
                .map(|c| {
                    let (i, j) = c?;
                    let parts = factors(&w, &batch.mentors[i], &batch.mentees[j], &md[i], &td[j]);
                    Ok(Verdict::Score(parts.iter().map(|(_, v, w)| v * w).sum()))
                })
                .collect();
        };
        batch
            .indices()
            .map(|c| {
                let (i, j) = c?;
                let parts = mentors[i].factors(&w, &mentees[j]);
                Ok(Verdict::Score(parts.iter().map(|(_, v, w)| v * w).sum()))
            })
            .collect()
    }

    fn explain_batch(batch: &Batch<'_>) -> Result<Vec<Explanation>, String> {
        let (w, md, td) = (
            Weights::of(batch.programme),
            departments(batch.mentors),
            departments(batch.mentees),
        );
        batch
            .indices()
            .map(|c| {
                let (i, j) = c?;
                Ok(explanation(factors(
                    &w,
                    &batch.mentors[i],
                    &batch.mentees[j],
                    &md[i],
                    &td[j],
                )))
            })
            .collect()
    }
}

upward_plugin_sdk::export_matcher!(DefaultMatcher);

#[cfg(test)]
mod tests {
    use super::DefaultMatcher;
    use upward_plugin_sdk::matcher::Verdict;
    use upward_plugin_sdk::testing::{self, ProfileExt};

    #[test]
    fn a_cross_department_pair_with_shared_topics_scores_every_factor() {
        let programme = testing::programme(&["ai", "hybrid work"]);
        let ana = testing::profile("ana", 2)
            .department("Engineering")
            .topics(&["ai"])
            .languages(&["en"]);
        let sam = testing::profile("sam", 9)
            .department("Finance")
            .topics(&["ai", "hybrid work"])
            .languages(&["en"]);
        let bob = testing::profile("bob", 3)
            .department("engineering")
            .topics(&["hybrid work"]);
        let verdicts = testing::score::<DefaultMatcher>(
            &programme,
            &[ana.clone(), bob],
            std::slice::from_ref(&sam),
            &[(0, 0), (1, 0)],
        )
        .unwrap();
        // topics 1 × 1 + departments 1 × 0.5 + gap 1 × 0.5 + languages 1 × 0.25.
        assert_eq!(verdicts[0], Verdict::Score(2.25));
        // Batch scoring and per-pair scoring agree.
        assert_eq!(
            verdicts[0],
            <DefaultMatcher as upward_plugin_sdk::matcher::Matcher>::score(&programme, &ana, &sam)
        );
        let explained = testing::explain::<DefaultMatcher>(&programme, &[ana], &[sam], &[(0, 0)]).unwrap();
        assert_eq!(explained[0].score, 2.25);
        assert_eq!(explained[0].factors.len(), 5);
        // Out-of-range candidates are an error, not a panic.
        assert!(testing::score::<DefaultMatcher>(&programme, &[], &[], &[(0, 0)]).is_err());
    }

    #[test]
    fn the_packed_batch_path_gives_exactly_the_per_pair_scores() {
        use upward_plugin_sdk::matcher::Matcher;
        let programme = testing::programme(&["ai", "hybrid work", "finance", "design"]);
        let (topics, departments, zones) = (
            ["ai", "hybrid work", "finance", "design"],
            ["Engineering", "engineering", "Finance", "Sales"],
            ["Europe/London", "Europe/Paris"],
        );
        let people = |offset: usize, base: i32| -> Vec<_> {
            (0..12)
                .map(|k| {
                    let n = k + offset;
                    let mut p = testing::profile(&format!("p{n}"), base + (n % 5) as i32)
                        .topics(&[topics[n % 4], topics[(n * 7 + 1) % 4]][..1 + n % 2])
                        .languages(&[["en", "fr", "de"][n % 3]]);
                    if !n.is_multiple_of(3) {
                        p = p.department(departments[n % 4]).timezone(zones[n % 2]);
                    }
                    if !n.is_multiple_of(4) {
                        p = p.location(["Leeds", "Paris"][n % 2]);
                    }
                    p
                })
                .collect()
        };
        let (mentors, mentees) = (people(0, 1), people(5, 6));
        let candidates: Vec<(u32, u32)> = (0..12).flat_map(|i| (0..12).map(move |j| (i, j))).collect();
        let check = |mentors: &[upward_plugin_sdk::matcher::Profile],
                     mentees: &[upward_plugin_sdk::matcher::Profile]| {
            let batch = testing::score::<DefaultMatcher>(&programme, mentors, mentees, &candidates).unwrap();
            for (&(i, j), verdict) in candidates.iter().zip(&batch) {
                let one = DefaultMatcher::score(&programme, &mentors[i as usize], &mentees[j as usize]);
                assert_eq!(*verdict, one, "mentor {i}, mentee {j}");
            }
        };
        check(&mentors, &mentees);
        // A topic listed twice, by a mentor or a mentee, counts as the per-pair path counts it.
        let (mut repeating_mentors, mut repeating_mentees) = (mentors.clone(), mentees.clone());
        repeating_mentors[0] = repeating_mentors[0].clone().topics(&["ai", "ai", "design"]);
        repeating_mentors[1] = repeating_mentors[1].clone().topics(&["finance", "finance"]);
        repeating_mentees[2] = repeating_mentees[2].clone().topics(&["ai", "ai"]);
        check(&repeating_mentors, &repeating_mentees);
        // Past 64 distinct topics the batch takes the plain path, with the same results.
        let many: Vec<String> = (0..70).map(|k| format!("topic {k}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        repeating_mentors[3] = repeating_mentors[3].clone().topics(&many);
        check(&repeating_mentors, &repeating_mentees);
    }
}
