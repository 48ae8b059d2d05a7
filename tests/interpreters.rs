//! The CPython interpreters the cross-checks use are found by minor version,
//! newest patch first, and a missing one fails with a message saying how to
//! install or point to one.

mod support;

use support::python::{VERSIONS, env_var, find, find_with, interpreters, minor_of, newest_patch};

#[test]
fn the_newest_final_patch_of_a_minor_version_wins() {
    let listed = [
        "2.7.18",
        "3.11.7",
        "3.12.1",
        "3.12.10",
        "3.12.9",
        "3.12.3",
        "3.13.0",
        "3.13.1t",
        "3.13.2rc1",
        "3.12.11/envs/tools",
        "pypy3.12-7.3.17",
        "3.1.5",
        "3.120.0",
        "system",
        " 3.11.9 ",
    ];
    assert_eq!(newest_patch("3.12", listed), Some("3.12.10"));
    assert_eq!(newest_patch("3.13", listed), Some("3.13.0"));
    assert_eq!(newest_patch("3.11", listed), Some("3.11.9"));
    assert_eq!(newest_patch("3.1", listed), Some("3.1.5"));
    assert_eq!(newest_patch("3.14", listed), None);
    assert_eq!(newest_patch("3.12", []), None);
}

#[test]
fn versions_names_and_variables() {
    assert_eq!(minor_of("3.12.3"), "3.12");
    assert_eq!(minor_of("3.12"), "3.12");
    assert_eq!(env_var("3.12"), "STDRPC_PYTHON_3_12");
    assert_eq!(VERSIONS, ["3.11", "3.12", "3.13"]);
}

#[test]
fn every_minor_version_is_found_and_reports_itself() {
    let found = interpreters();
    assert_eq!(found.len(), VERSIONS.len());
    for ((version, path), minor) in found.iter().zip(VERSIONS) {
        assert_eq!(minor_of(version), *minor, "{}", path.display());
        assert!(version.len() > minor.len() + 1, "{version}: a full version");
    }
}

#[test]
fn a_missing_interpreter_says_how_to_get_one() {
    let message = find("3.99").unwrap_err();
    for part in [
        "CPython 3.99 not found",
        "STDRPC_PYTHON_3_99=/path/to/python3.99",
        "pyenv install 3.99",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

#[test]
fn an_environment_variable_overrides_the_search() {
    let all = interpreters();
    let (v312, p312) = all.iter().find(|(v, _)| minor_of(v) == "3.12").unwrap();
    let (_, p313) = all.iter().find(|(v, _)| minor_of(v) == "3.13").unwrap();
    let pointing_at = |path: &std::path::Path| {
        let path = path.as_os_str().to_owned();
        move |var: &str| (var == "STDRPC_PYTHON_3_12").then(|| path.clone())
    };

    let (version, path) = find_with("3.12", pointing_at(p312)).unwrap();
    assert_eq!((&version, &path), (v312, p312));

    // A variable naming an interpreter of another minor version is an error,
    // not a fallback to the search.
    let message = find_with("3.12", pointing_at(p313)).unwrap_err();
    assert!(message.starts_with("STDRPC_PYTHON_3_12="), "{message}");
    assert!(message.contains("should be CPython 3.12.x"), "{message}");
    // Other minor versions do not read it.
    let (version, _) = find_with("3.13", pointing_at(p312)).unwrap();
    assert_eq!(minor_of(&version), "3.13");
}
