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

/// The sections of the code map: the paths a `### ` heading names and the lines under
/// it (up to the next heading).
fn sections(text: &str) -> Vec<(Vec<String>, Vec<&str>)> {
    let mut out: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            let paths = if line.starts_with("### ") {
                line.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(|p| p.trim_end_matches('/').to_owned())
                    .collect()
            } else {
                Vec::new()
            };
            out.push((paths, Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line);
        }
    }
    out
}

/// Every file under `dir` (not under `target` nor hidden directories).
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// A token that names a file or directory: `crates/mock/src/wsman/`, `tests/x.rs`,
/// `mod.rs`, `crypto_vectors.json` (not a MIME type, URL or elided path).
fn is_path_like(tok: &str) -> bool {
    const EXTENSIONS: [&str; 8] = [
        ".rs", ".toml", ".md", ".py", ".sh", ".json", ".yml", ".yaml",
    ];
    let chars_ok = tok
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    let mime = ["application/", "text/", "multipart/"]
        .iter()
        .any(|m| tok.starts_with(m));
    chars_ok
        && !mime
        && !tok.contains("..")
        && !tok.starts_with('/')
        && (tok.contains('/') || EXTENSIONS.iter().any(|e| tok.ends_with(e)))
}

/// Whether `module` (`session`, `wsman::shell`, or `fault_for` as a function) resolves
/// under a crate's `src`: each segment a module file or directory, the last one
/// possibly a function or re-export in the module reached so far.
fn module_resolves(src: &Path, segments: &[&str]) -> bool {
    let mut dir = src.to_path_buf();
    let mut file = src.join("lib.rs");
    for (i, seg) in segments.iter().enumerate() {
        let as_file = dir.join(format!("{seg}.rs"));
        let as_dir = dir.join(seg).join("mod.rs");
        if as_file.exists() {
            file = as_file;
            dir = dir.join(seg);
        } else if as_dir.exists() {
            file = as_dir;
            dir = dir.join(seg);
        } else if std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains(&format!("mod {seg} {{"))
        {
            // An inline module: what follows is looked up in the same file.
            dir = dir.join(seg);
        } else {
            let last = i + 1 == segments.len();
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let defined = text.contains(&format!("fn {seg}("))
                || text.contains(&format!("fn {seg}<"))
                || text
                    .lines()
                    .any(|l| l.trim_start().starts_with("pub use") && l.contains(seg));
            return last && defined;
        }
    }
    true
}

/// Every file, directory and module the code map's prose names exists: paths relative
/// to the repository, to the section's directory or its `src`; bare file names
/// somewhere in the section (or the repository); `crate::module` and `module::function`
/// paths in the section's crate or the named one.
#[test]
fn every_path_and_module_the_code_map_names_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let crates: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut repo_files = Vec::new();
    files_under(root(), &mut repo_files);
    let mut checked = 0;
    let mut missing = Vec::new();
    for (paths, lines) in sections(&text) {
        let mut in_code_block = false;
        for line in lines {
            if line.trim_start().starts_with("```") {
                in_code_block = !in_code_block;
                continue;
            }
            if in_code_block {
                continue;
            }
            for tok in line.split('`').skip(1).step_by(2) {
                if is_path_like(tok) {
                    checked += 1;
                    let t = tok.trim_end_matches('/');
                    let mut candidates = vec![root().join(t)];
                    for p in &paths {
                        candidates.push(root().join(p).join(t));
                        candidates.push(root().join(p).join("src").join(t));
                    }
                    // A bare file name may live anywhere in its section; in a section
                    // that names no path (cross-cutting concerns), a path may be relative
                    // to any directory of the repository.
                    let in_section = |f: &std::path::PathBuf| {
                        paths.is_empty() || paths.iter().any(|p| f.starts_with(root().join(p)))
                    };
                    let found = candidates.iter().any(|c| c.exists())
                        || (!t.contains('/')
                            && repo_files
                                .iter()
                                .any(|f| f.file_name().is_some_and(|n| n == t) && in_section(f)))
                        || (paths.is_empty()
                            && repo_files.iter().any(|f| {
                                let rel = f.strip_prefix(root()).unwrap_or(f);
                                let rel = rel.to_string_lossy();
                                rel.ends_with(&format!("/{t}")) || rel.contains(&format!("/{t}/"))
                            }));
                    if !found {
                        missing.push(format!("{paths:?}: `{tok}`"));
                    }
                } else if tok.contains("::")
                    && tok.split("::").all(|s| {
                        !s.is_empty()
                            && s.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    })
                {
                    let segments: Vec<&str> = tok.split("::").collect();
                    // In the section's own crate (`session::Bmc` style, relative), or
                    // in the workspace crate the path starts with.
                    let mut roots: Vec<(std::path::PathBuf, &[&str])> = Vec::new();
                    for p in &paths {
                        let src = root().join(p).join("src");
                        let first = segments[0];
                        if p.starts_with("crates/")
                            && (src.join(format!("{first}.rs")).exists()
                                || src.join(first).is_dir())
                        {
                            roots.push((src, &segments[..]));
                        }
                    }
                    if crates.iter().any(|c| c == segments[0]) {
                        roots.push((
                            root().join("crates").join(segments[0]).join("src"),
                            &segments[1..],
                        ));
                    }
                    if roots.is_empty() {
                        continue;
                    }
                    checked += 1;
                    if !roots.iter().any(|(src, segs)| module_resolves(src, segs)) {
                        missing.push(format!("{paths:?}: `{tok}`"));
                    }
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} paths and modules checked");
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what does not exist:\n{}",
        missing.join("\n")
    );
}
