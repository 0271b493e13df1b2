//! The plugin contract (`plugin-sdk/wit`) parses, and declares the three worlds with the imports and exports the host
//! will link.

use wit_parser::{Resolve, WorldItem, WorldKey};

/// The interfaces' full names, sorted.
fn names(resolve: &Resolve, items: &[WorldKey]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(|key| resolve.name_world_key(key)).collect();
    names.sort();
    names
}

#[test]
fn the_contract_declares_three_worlds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk/wit");
    let mut resolve = Resolve::new();
    let (package, _) = resolve.push_dir(&dir).expect("the WIT package parses");
    assert_eq!(resolve.packages[package].name.to_string(), "upward:plugin@0.1.0");
    let world = |name: &str| {
        let id = resolve
            .select_world(&[package], Some(name))
            .unwrap_or_else(|e| panic!("world {name}: {e}"));
        let w = &resolve.worlds[id];
        let imports: Vec<WorldKey> = w
            .imports
            .iter()
            .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
            .map(|(k, _)| k.clone())
            .collect();
        let exports: Vec<WorldKey> = w.exports.keys().cloned().collect();
        (names(&resolve, &imports), names(&resolve, &exports))
    };
    let base = [
        "upward:plugin/config@0.1.0",
        "upward:plugin/log@0.1.0",
        "upward:plugin/types@0.1.0",
    ];
    let (imports, exports) = world("matcher");
    assert_eq!(imports, base);
    assert_eq!(exports, ["upward:plugin/matching@0.1.0"]);
    let (imports, exports) = world("survey-scorer");
    assert_eq!(imports, base);
    assert_eq!(exports, ["upward:plugin/scoring@0.1.0"]);
    let (imports, exports) = world("hris-connector");
    assert_eq!(
        imports,
        [
            "upward:plugin/config@0.1.0",
            "upward:plugin/http@0.1.0",
            "upward:plugin/log@0.1.0",
            "upward:plugin/types@0.1.0"
        ]
    );
    assert_eq!(exports, ["upward:plugin/directory@0.1.0"]);
}
