//! Hostile values for input tests (tests/daemons/security_hostile.rs, tests/daemons/ssh_cli.rs): each tries to
//! run `touch CANARY` or otherwise misbehave in a shell, a config format or a terminal.

use std::path::Path;

pub fn values(canary: &Path) -> Vec<String> {
    let c = canary.display();
    vec![
        format!(";touch {c}"),
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("a\ntouch {c}"),
        format!("a\rtouch {c}"),
        format!("|touch {c}"),
        format!("&touch {c}&"),
        format!("&& touch {c}"),
        format!("'; touch {c}; '"),
        format!("\"; touch {c}; \""),
        format!("$IFS$(touch${{IFS}}{c})"),
        format!(">{c}"),
        format!("a b 'c' \"d\" $(touch {c})"),
        "*".into(),
        "?[a-z]*".into(),
        "~root".into(),
        "-rf".into(),
        "--help".into(),
        " leading-space".into(),
        "tab\there".into(),
        String::new(),
        "x".repeat(4096),
        "\u{1b}]0;pwned\u{7}\u{1b}[2J".into(),
        "nul\u{0}byte".into(),
        "${HOME}%n%s".into(),
        "../../../etc/passwd".into(),
        "ünïcödé-\u{202e}rtl".into(),
    ]
}
