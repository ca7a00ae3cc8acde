//! The mock's source stays navigable: every file ARCHITECTURE.md names in the mock's
//! section exists, and no source file grows past 800 lines without saying why on its
//! first line.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of ARCHITECTURE.md's `crates/mock` section.
fn mock_section() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find("### `crates/mock`")
        .expect("a crates/mock section");
    let rest = &text[start + 4..];
    let end = rest.find("\n### ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[test]
fn every_module_file_architecture_names_exists() {
    let section = mock_section();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let relative: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let mut named = 0;
    for token in section.split('`').skip(1).step_by(2) {
        let is_path = token.ends_with(".rs")
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '/' || c == '.');
        if !is_path {
            continue;
        }
        named += 1;
        // A bare file name (`mod.rs` in the `ipmi/` paragraph) may be in a module
        // directory; a path with a directory must be exact.
        let found = if token.contains('/') {
            relative.iter().any(|r| r == token)
        } else {
            relative
                .iter()
                .any(|r| r == token || r.ends_with(&format!("/{token}")))
        };
        assert!(
            found,
            "ARCHITECTURE.md names `{token}`, which is not in crates/mock/src"
        );
    }
    assert!(named >= 15, "the mock's section names only {named} files");
}

#[test]
fn long_files_say_why_on_their_first_line() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for f in files {
        let rel = f
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = text.lines().count();
        if lines <= 800 {
            continue;
        }
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("// Over 800 lines because "),
            "{rel} has {lines} lines and its first line does not say why: {first:?}"
        );
    }
}
