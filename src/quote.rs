//! Quoting one word for a POSIX shell: the one writer of shell words, used by every layer
//! that shows or runs a command line (a leaf module: it imports nothing of the crate).

/// Quotes one word for a POSIX shell: safe words stay bare, others are single-quoted.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
