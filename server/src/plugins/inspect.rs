//! A fast look at an uploaded component before anything is compiled: is it a component at all, which contract
//! version and world does it implement, and does it import anything the host does not provide? Reads only the
//! top-level import and export names (milliseconds even for an 18 MB Python component), so an upload is refused at
//! once with what is missing; the full type check happens when the component is compiled.

use wasmparser::{Encoding, Parser, Payload};

use super::{CONTRACT_VERSIONS, Kind};

/// The component's top-level interface names.
#[derive(Debug, Default, PartialEq)]
pub struct Shape {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Reads the top-level imports and exports, or says why the bytes are not a component.
pub fn shape(bytes: &[u8]) -> Result<Shape, String> {
    let mut shape = Shape::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a WebAssembly binary: {e}"))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding == Encoding::Module {
                    return Err(
                        "this is a core WebAssembly module, not a component: build for wasm32-wasip2 (or \
                                wrap it with `wasm-tools component new`)"
                            .into(),
                    );
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| format!("malformed import section: {e}"))?;
                    shape.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| format!("malformed export section: {e}"))?;
                    shape.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if depth != 0 && shape.imports.is_empty() && shape.exports.is_empty() {
        return Err("the component is truncated".into());
    }
    Ok(shape)
}

/// `upward:plugin/matching@0.1.0` → `("matching", "0.1.0")`.
fn contract_interface(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("upward:plugin/")?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

/// Everything that keeps the component from being a plugin of `kind`, in the author's terms (empty: it fits).
pub fn problems(kind: Kind, shape: &Shape) -> Vec<String> {
    let supported = CONTRACT_VERSIONS.join(", ");
    let mut problems = Vec::new();
    let wanted = kind.export();
    let mut found = false;
    for export in &shape.exports {
        let Some((interface, version)) = contract_interface(export) else {
            continue;
        };
        if interface == wanted && CONTRACT_VERSIONS.contains(&version) {
            found = true;
        } else if interface == wanted {
            problems.push(format!(
                "it exports `{export}`: contract version {version:?} is not supported (supported: {supported})"
            ));
        } else {
            let other = [Kind::Matcher, Kind::SurveyScorer, Kind::HrisConnector]
                .into_iter()
                .find(|k| k.export() == interface)
                .map(|k| format!(", which makes it a {}", k.as_str()))
                .unwrap_or_default();
            problems.push(format!("it exports `{export}`{other}"));
        }
    }
    if !found {
        problems.insert(
            0,
            format!(
                "a {} must export `upward:plugin/{wanted}@{}` (the `{}` world); it exports {}",
                kind.as_str(),
                CONTRACT_VERSIONS[CONTRACT_VERSIONS.len() - 1],
                kind.world(),
                list(&shape.exports)
            ),
        );
    }
    for import in &shape.imports {
        if import.starts_with("wasi:") {
            // Linked, with every capability denied.
            continue;
        }
        match contract_interface(import) {
            Some((interface, version))
                if kind.imports().contains(&interface) && CONTRACT_VERSIONS.contains(&version) => {}
            Some(("http", _)) => problems.push(format!(
                "it imports `{import}`: only hris_connector plugins may make HTTP requests"
            )),
            _ => problems.push(format!(
                "it imports `{import}`, which the `{}` world does not provide",
                kind.world()
            )),
        }
    }
    problems
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(imports: &[&str], exports: &[&str]) -> Shape {
        Shape {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_matcher_fits_and_a_scorer_is_told_what_is_missing() {
        let matcher = shape_of(
            &[
                "wasi:io/streams@0.2.6",
                "upward:plugin/log@0.1.0",
                "upward:plugin/types@0.1.0",
            ],
            &["upward:plugin/matching@0.1.0"],
        );
        assert!(problems(Kind::Matcher, &matcher).is_empty());
        let wrong = problems(Kind::SurveyScorer, &matcher);
        assert!(
            wrong[0].contains("must export `upward:plugin/scoring@0.1.0`"),
            "{wrong:?}"
        );
        assert!(wrong[1].contains("which makes it a matcher"), "{wrong:?}");
        let future = problems(Kind::Matcher, &shape_of(&[], &["upward:plugin/matching@0.9.0"]));
        assert!(
            future
                .iter()
                .any(|p| p.contains("0.9.0") && p.contains("not supported")),
            "{future:?}"
        );
        let http = problems(
            Kind::Matcher,
            &shape_of(&["upward:plugin/http@0.1.0"], &["upward:plugin/matching@0.1.0"]),
        );
        assert_eq!(http.len(), 1);
        assert!(http[0].contains("only hris_connector"), "{http:?}");
    }

    #[test]
    fn garbage_and_core_modules_are_not_components() {
        assert!(
            shape(b"not wasm at all")
                .unwrap_err()
                .contains("not a WebAssembly binary")
        );
        // The smallest core module: magic and version 1.
        let core = [0u8, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
        assert!(shape(&core).unwrap_err().contains("core WebAssembly module"));
    }
}
