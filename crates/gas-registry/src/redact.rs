//! What the registry publishes about a failure: its own sentence plus a bounded excerpt of the
//! worker's or the system's text, with environment values and host paths removed. Raw worker
//! output (stderr, tracebacks) is never stored in a model's reasons.

/// Longest excerpt kept, in characters.
pub const EXCERPT_CHARS: usize = 300;

/// Environment values shorter than this are not searched for (`1`, `cpu`, `true` …).
const MIN_SECRET_LEN: usize = 6;

/// `text` made safe to publish: every value of this process's environment variables (at least
/// [`MIN_SECRET_LEN`] characters) replaced by `<redacted>`, every absolute path by
/// `<path>/<file name>`, control characters by spaces, at most `max_chars` characters.
pub fn redact(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // Paths first: a redaction marker inside a path would end the path early.
    let mut s = strip_paths(&cleaned);
    let mut values: Vec<String> = std::env::vars_os()
        .filter_map(|(_, v)| v.into_string().ok())
        .filter(|v| v.len() >= MIN_SECRET_LEN)
        .collect();
    // Longest first, so that a value containing another is removed whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in &values {
        if s.contains(v.as_str()) {
            s = s.replace(v.as_str(), "<redacted>");
        }
    }
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = s.chars().take(max_chars).collect();
    if s.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Absolute paths (`/a/b/file.py`, also inside quotes or after `=`/`:`) become
/// `<path>/file.py`: the file name helps the miner, the host's layout is not theirs to see.
fn strip_paths(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let boundary = |c: char| c.is_whitespace() || "\"'`(=:,[{<".contains(c);
    while i < chars.len() {
        let starts_path =
            chars[i] == '/' && (i == 0 || boundary(chars[i - 1])) && i + 1 < chars.len();
        if starts_path {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() && !"\"'`),]}>".contains(chars[j]) {
                j += 1;
            }
            let token: String = chars[i..j].iter().collect();
            // A trailing `:` or `,` (e.g. `File "/x/y.py", line 3` or `/x/y.py:12`) stays outside.
            let trimmed = token.trim_end_matches([',', ':', ';', '.']);
            let tail = &token[trimmed.len()..];
            // The last component, with a `:12` line number if any.
            let name = trimmed.rsplit('/').next().unwrap_or_default();
            if trimmed.len() > 1 {
                out.push_str("<path>/");
                out.push_str(name);
            } else {
                out.push_str(trimmed);
            }
            out.push_str(tail);
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Our sentence, then the redacted first lines of `raw` (if any) as an excerpt.
pub fn reason(sentence: &str, raw: &str) -> String {
    let excerpt = redact(raw, EXCERPT_CHARS);
    if excerpt.is_empty() {
        sentence.to_string()
    } else {
        format!("{sentence} (excerpt: {excerpt})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_file_names() {
        let r = redact(
            "Traceback: File \"/home/op/registry-data/eval-work/gas-registry-exam-x/model/model.py\", \
             line 3, in load_model; see /usr/lib/python3/dist-packages/torch/nn/module.py:12",
            500,
        );
        assert!(!r.contains("/home/op"), "{r}");
        assert!(!r.contains("/usr/lib"), "{r}");
        assert!(r.contains("<path>/model.py\", line 3"), "{r}");
        assert!(r.contains("<path>/module.py:12"), "{r}");
    }

    #[test]
    fn environment_values_are_removed_and_text_is_bounded() {
        // The test's own environment: any value of 6+ characters must disappear.
        let (k, v) = std::env::vars()
            .find(|(_, v)| v.len() >= MIN_SECRET_LEN && !v.contains('/'))
            .unwrap_or_else(|| ("HOME".into(), "unused".into()));
        if std::env::var(&k).ok().as_deref() == Some(v.as_str()) {
            let r = redact(&format!("value of {k} is {v}!"), 500);
            assert!(!r.contains(&v), "{r}");
            assert!(r.contains("<redacted>"), "{r}");
        }
        let long = "x".repeat(1000);
        let r = redact(&long, 50);
        assert_eq!(r.chars().count(), 51);
        assert!(r.ends_with('…'));
        assert_eq!(redact("a\nb\u{1b}[31mc", 50), "a b [31mc");
        assert_eq!(
            reason("the model could not be run", ""),
            "the model could not be run"
        );
    }
}
