//! The seams inside `src/server/` (ARCHITECTURE.md): a connection sees its
//! server only through `connection::Host`, never the server's private
//! `Shared`; the watchdog watches through its own `Watched` trait and names
//! nothing of the connection module.

fn source(file: &str) -> String {
    let path = format!("{}/src/server/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of `text`, outside comments, that contain `word` as a whole
/// identifier.
fn uses(text: &str, word: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| {
            line.match_indices(word).any(|(at, _)| {
                let ident = |c: char| c.is_alphanumeric() || c == '_';
                let before = line[..at].chars().next_back();
                let after = line[at + word.len()..].chars().next();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            })
        })
        .map(|(n, line)| (n + 1, line.trim().to_string()))
        .collect()
}

#[test]
fn a_connection_does_not_name_the_servers_shared_state() {
    let found = uses(&source("connection.rs"), "Shared");
    assert!(found.is_empty(), "src/server/connection.rs: {found:?}");
}

#[test]
fn the_watchdog_does_not_name_the_connection_module() {
    let found = uses(&source("watchdog.rs"), "connection");
    assert!(found.is_empty(), "src/server/watchdog.rs: {found:?}");
}

#[test]
fn the_scan_finds_whole_identifiers_only() {
    let text = "use super::Shared;\n// Shared in a comment\nlet shared_x = SharedState;\n";
    assert_eq!(
        uses(text, "Shared"),
        vec![(1, "use super::Shared;".to_string())]
    );
}
