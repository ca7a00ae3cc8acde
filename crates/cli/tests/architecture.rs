//! ARCHITECTURE.md stays true: every path its code map names as a heading exists, and
//! every crate in the workspace has a section.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
}

#[test]
fn every_code_map_heading_names_a_path_that_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut named = 0;
    for line in text.lines().filter(|l| l.starts_with("### ")) {
        for part in line.split('`').skip(1).step_by(2) {
            named += 1;
            let path = root().join(part.trim_end_matches('/'));
            assert!(
                path.exists(),
                "ARCHITECTURE.md names `{part}`, which does not exist"
            );
        }
    }
    assert!(named >= 5, "the code map names only {named} paths");
}

#[test]
fn every_crate_has_a_code_map_section() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            text.contains(&format!("### `crates/{name}`")),
            "crates/{name} has no section in ARCHITECTURE.md"
        );
    }
}
