//! `upward plugin new`: a plugin project that builds, tests and runs in one command, for each kind and language. The
//! sources are the templates in `server/src/plugins/templates/` (compiled in), each with a unit test (Rust) and a sample input
//! for `upward plugin run`.

use std::path::Path;

const WIT: &str = include_str!("../../plugin-sdk/wit/upward.wit");

struct Kind {
    /// `--kind`, the WIT world.
    world: &'static str,
    /// `upward plugin run --kind` and the manifest's `kind`.
    kind: &'static str,
    /// The SDK feature.
    feature: &'static str,
    rust: &'static str,
    python: &'static str,
    input: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        world: "matcher",
        kind: "matcher",
        feature: "matcher",
        rust: include_str!("../src/plugins/templates/matcher.rs"),
        python: include_str!("../src/plugins/templates/matcher.py"),
        input: include_str!("../src/plugins/templates/matcher_input.json"),
    },
    Kind {
        world: "survey-scorer",
        kind: "survey_scorer",
        feature: "survey-scorer",
        rust: include_str!("../src/plugins/templates/survey_scorer.rs"),
        python: include_str!("../src/plugins/templates/survey_scorer.py"),
        input: include_str!("../src/plugins/templates/survey_scorer_input.json"),
    },
    Kind {
        world: "hris-connector",
        kind: "hris_connector",
        feature: "hris-connector",
        rust: include_str!("../src/plugins/templates/hris_connector.rs"),
        python: include_str!("../src/plugins/templates/hris_connector.py"),
        input: include_str!("../src/plugins/templates/hris_connector_input.json"),
    },
];

/// Writes the project; returns what to do next.
pub fn create(kind: &str, lang: &str, sdk: Option<&Path>, dir: &Path) -> Result<String, String> {
    let kind = KINDS
        .iter()
        .find(|k| k.world == kind || k.kind == kind)
        .ok_or_else(|| format!("--kind {kind}: expected matcher, survey-scorer or hris-connector"))?;
    if dir.exists() {
        return Err(format!("{} already exists", dir.display()));
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.to_ascii_lowercase().replace('_', "-"))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .ok_or_else(|| {
            format!(
                "{}: the folder's name must be letters, digits and hyphens",
                dir.display()
            )
        })?;
    let write = |path: &str, text: &str| -> Result<(), String> {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let file = name.replace('-', "_");
    match lang {
        "rust" => {
            let sdk = match sdk {
                Some(path) => path.to_path_buf(),
                None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk"),
            };
            let sdk = sdk
                .canonicalize()
                .map_err(|_| format!("{}: no SDK there; pass --sdk PATH/TO/plugin-sdk", sdk.display()))?;
            write(
                "Cargo.toml",
                &include_str!("../src/plugins/templates/Cargo.toml.tmpl")
                    .replace("{{name}}", &name)
                    .replace("{{sdk}}", &sdk.display().to_string())
                    .replace("{{feature}}", kind.feature),
            )?;
            write("src/lib.rs", kind.rust)?;
            write(".gitignore", "/target\n/upward-plugin-cache\n")?;
        }
        "python" => {
            write("app.py", kind.python)?;
            write("wit/upward.wit", WIT)?;
            write(
                "build.sh",
                &format!(
                    "#!/usr/bin/env bash\n# Builds {file}.wasm with componentize-py (pinned).\nset -euo pipefail\n\
                     cd \"$(dirname \"$0\")\"\npython3 -m pip install --quiet --disable-pip-version-check \
                     'componentize-py==0.25.1'\ncomponentize-py -d wit -w {} componentize app -o {file}.wasm\n",
                    kind.world
                ),
            )?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let script = dir.join("build.sh");
                let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755));
            }
            write(".gitignore", "*.wasm\n/upward-plugin-cache\n")?;
        }
        other => return Err(format!("--lang {other}: expected rust or python")),
    }
    write("input.json", kind.input)?;
    let (test, build, wasm) = match lang {
        "rust" => (
            "cargo test".to_string(),
            "cargo build --target wasm32-wasip2 --release".to_string(),
            format!("target/wasm32-wasip2/release/{file}.wasm (or under $CARGO_TARGET_DIR)"),
        ),
        _ => (
            "(no native tests: try it with `upward plugin run`)".to_string(),
            "./build.sh".to_string(),
            format!("{file}.wasm"),
        ),
    };
    let readme = format!(
        "# {name}\n\nAn Upward `{kind}` plugin ({lang}), from `upward plugin new`.\n\n\
         - Test: `{test}`\n- Build: `{build}` (the component: `{wasm}`)\n\
         - Run through the real host: `upward plugin run --kind {kind} --wasm <the component> --input input.json`\n\
         - Upload: `POST /v1/plugins?name={name}&version=0.1.0&kind={kind}` with the component as `application/wasm`\n",
        kind = kind.kind
    );
    write("README.md", &readme)?;
    Ok(format!(
        "created {} ({} {}); next: cd {} && {} && {}",
        dir.display(),
        kind.kind,
        lang,
        dir.display(),
        if lang == "rust" { "cargo test" } else { "true" },
        build
    ))
}
