//! The `default-matcher` plugin (plugins/default-matcher, built for wasm32-wasip2 before the tests run) gives the
//! same scores and the same optimal assignment as the built-in policy, through the real host with its limits.

use std::path::PathBuf;

use upward_server::matching::policy::{BuiltinPolicy, MatchingPolicy, Verdict};
use upward_server::matching::{self, synthetic};
use upward_server::plugins::matcher::PluginPolicy;
use upward_server::plugins::{Host, Limits};

/// Where `cargo build --target wasm32-wasip2 --release` in `plugins/` put the component.
fn built_plugin(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target"));
    let path = target.join("wasm32-wasip2/release").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first (cd plugins && cargo build --target wasm32-wasip2 --release)",
        path.display()
    );
    path
}

#[test]
fn the_default_matcher_plugin_scores_exactly_like_the_built_in_policy() {
    let host = Host::new().unwrap();
    let component = host
        .compile(&std::fs::read(built_plugin("default_matcher")).unwrap())
        .unwrap();
    let plugin = PluginPolicy::new(
        &host,
        "default-matcher@0.1.0",
        &component,
        Limits::default(),
        "{}".into(),
    )
    .unwrap();
    let inputs = synthetic(60);
    let batch: Vec<_> = inputs
        .mentors
        .iter()
        .flat_map(|(mp, me)| {
            inputs.mentees.iter().map(move |(tp, te)| {
                (
                    matching::policy::Side {
                        participant: mp,
                        enrolment: me,
                    },
                    matching::policy::Side {
                        participant: tp,
                        enrolment: te,
                    },
                )
            })
        })
        .collect();
    for explain in [false, true] {
        let builtin = BuiltinPolicy.score(&inputs.programme, &batch, explain).unwrap();
        let plugged = plugin.score(&inputs.programme, &batch, explain).unwrap();
        assert_eq!(plugged.len(), batch.len());
        for (a, b) in builtin.iter().zip(&plugged) {
            match (a, b) {
                (Verdict::Score { score: x, factors: fx }, Verdict::Score { score: y, factors: fy }) => {
                    assert!((x - y).abs() < 1e-9, "{x} vs {y}");
                    assert_eq!(fx, fy);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    // The whole engine agrees too: the same proposals, in the same order.
    let a = matching::run(&inputs, &BuiltinPolicy, &matching::solver::Stop::never()).unwrap();
    let b = matching::run(&inputs, &plugin, &matching::solver::Stop::never()).unwrap();
    assert_eq!(a.proposals, b.proposals);
    assert_eq!(a.stats.total_score, b.stats.total_score);
}

#[test]
fn a_component_of_another_world_is_refused_and_garbage_does_not_compile() {
    let host = Host::new().unwrap();
    assert!(host.compile(b"not a component").is_err());
    // A valid component that exports nothing is not a matcher.
    let empty = host.compile(b"\0asm\x0d\x00\x01\x00").unwrap();
    let refused = PluginPolicy::new(&host, "empty", &empty, Limits::default(), "{}".into());
    assert!(
        matches!(refused, Err(upward_server::plugins::PluginError::WrongWorld { .. })),
        "{:?}",
        refused.err()
    );
}

/// Every misbehaviour of a plugin ends as a clear error for that batch; the host (and the next call) is unharmed.
#[test]
fn a_hostile_matcher_is_contained_whatever_it_does() {
    let host = Host::new().unwrap();
    let component = host
        .compile(&std::fs::read(built_plugin("hostile_matcher")).unwrap())
        .unwrap();
    let inputs = synthetic(4);
    let batch: Vec<_> = inputs
        .mentors
        .iter()
        .zip(&inputs.mentees)
        .map(|((mp, me), (tp, te))| {
            (
                matching::policy::Side {
                    participant: mp,
                    enrolment: me,
                },
                matching::policy::Side {
                    participant: tp,
                    enrolment: te,
                },
            )
        })
        .collect();
    let limits = Limits {
        timeout: std::time::Duration::from_millis(300),
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let policy = |mode: &str| {
        PluginPolicy::new(
            &host,
            "hostile",
            &component,
            limits.clone(),
            format!("{{\"mode\": \"{mode}\"}}"),
        )
        .unwrap()
    };
    // Unbounded recursion may be compiled into a loop: then fuel, not the stack, stops it.
    for (mode, expected) in [
        ("spin", &["ran out of CPU"][..]),
        ("hog", &["ran out of memory"][..]),
        ("recurse", &["trapped", "ran out of CPU"][..]),
        ("panic", &["trapped"][..]),
    ] {
        let started = std::time::Instant::now();
        let error = policy(mode)
            .score(&inputs.programme, &batch, false)
            .unwrap_err()
            .to_string();
        assert!(expected.iter().any(|e| error.contains(e)), "{mode}: {error}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{mode} took {:?}",
            started.elapsed()
        );
    }
    // A spin with fuel to spare is stopped by the wall-clock deadline instead.
    let unmetered = PluginPolicy::new(
        &host,
        "hostile",
        &component,
        Limits {
            fuel_base: u64::MAX / 4,
            ..limits.clone()
        },
        "{\"mode\": \"spin\"}".into(),
    )
    .unwrap();
    let error = unmetered
        .score(&inputs.programme, &batch, false)
        .unwrap_err()
        .to_string();
    assert!(error.contains("deadline"), "{error}");
    // Malformed output: the engine refuses NaN and a wrong number of verdicts.
    let nan = matching::run(&inputs, &policy("nan"), &matching::solver::Stop::never())
        .err()
        .expect("NaN is refused")
        .to_string();
    assert!(nan.contains("not a finite number"), "{nan}");
    let short = policy("short")
        .score(&inputs.programme, &batch, false)
        .unwrap_err()
        .to_string();
    assert!(short.contains("verdicts for"), "{short}");
    // And the host still serves a well-behaved call.
    assert_eq!(
        policy("calm").score(&inputs.programme, &batch, false).unwrap().len(),
        batch.len()
    );
}

/// A compiled component is kept on disk by content hash: a restarted host (or another instance sharing the
/// directory) loads the artifact instead of compiling again, and a damaged artifact only costs a compile.
#[test]
fn compiled_components_survive_a_restart() {
    use upward_server::plugins::ArtifactSource;
    let dir = std::env::temp_dir().join(format!("upward-cache-test-{}", uuid::Uuid::now_v7()));
    let bytes = std::fs::read(built_plugin("default_matcher")).unwrap();
    let sha = "00ff00ff";
    {
        let host = Host::with(Some(dir.clone()), 64 << 20, upward_server::net::Guard::strict()).unwrap();
        let (_, source) = host.cache.get_or_compile(sha, &bytes).unwrap();
        assert_eq!(source, ArtifactSource::Compiled);
        let (_, source) = host.cache.get_or_compile(sha, &bytes).unwrap();
        assert_eq!(source, ArtifactSource::Memory);
    }
    {
        let restarted = Host::with(Some(dir.clone()), 64 << 20, upward_server::net::Guard::strict()).unwrap();
        let (component, source) = restarted.cache.get_or_compile(sha, &bytes).unwrap();
        assert_eq!(source, ArtifactSource::Disk);
        // The loaded artifact is a working matcher.
        let policy = PluginPolicy::new(&restarted, "default", &component, Limits::default(), "{}".into()).unwrap();
        policy.instantiate_only().unwrap();
    }
    // A damaged artifact is ignored and compiled again. (Replaced, not rewritten in place: a loaded artifact is
    // mapped, which is why the cache itself only ever renames a complete file into place.)
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"garbage").unwrap();
    }
    let fresh = Host::with(Some(dir.clone()), 64 << 20, upward_server::net::Guard::strict()).unwrap();
    let (_, source) = fresh.cache.get_or_compile(sha, &bytes).unwrap();
    assert_eq!(source, ArtifactSource::Compiled);
    std::fs::remove_dir_all(&dir).unwrap();
}
