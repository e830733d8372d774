//! Masking of document and phone numbers for logs, errors, reports and audit records: one
//! function, so every place hides the same characters and none shows a whole number; and the
//! one way caller-supplied text is quoted back (short, on one line, numbers hidden).

/// `text` with every character but its first `head` and last `tail` replaced by `*` (one star per
/// character, so the length still shows). A text too short to hide at least four characters that
/// way is masked whole.
pub fn mask(text: &str, head: usize, tail: usize) -> String {
    let n = text.chars().count();
    if n < head + tail + 4 {
        return "*".repeat(n);
    }
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// A document number as given, valid or not: its first 6 and last 4 characters
/// (`110105********002X`), the region of issue and the check, never the birth date.
pub fn id_text(text: &str) -> String {
    mask(text, 6, 4)
}

/// A phone number as given, valid or not: its first 3 and last 4 characters (`138****8000`).
pub fn phone_text(text: &str) -> String {
    mask(text, 3, 4)
}

/// Characters of caller text an error or a log line quotes at most.
pub const QUOTED_CHARS: usize = 40;

/// Characters of a caller-supplied path an error or a log line quotes at most.
pub const QUOTED_PATH_CHARS: usize = 256;

/// Caller-supplied text (a day, a code) as an error message, a log line or an audit rendering
/// may show it: in double quotes, on one line (control characters, quotes and backslashes
/// escaped, so no caller can start a line of their own), cut after [`QUOTED_CHARS`] characters
/// with `…` (a 4 MB field comes back as a few bytes), and every run of seven or more digits,
/// which could be a document or phone number, replaced by stars.
pub fn quoted(text: &str) -> String {
    quote(text, QUOTED_CHARS, Some(7))
}

/// A caller-supplied region code as [`quoted`] shows text, but with runs of up to 12 digits
/// (every region code) shown and longer ones (a document number in the wrong field) hidden.
pub fn quoted_code(text: &str) -> String {
    quote(text, QUOTED_CHARS, Some(13))
}

/// A caller-supplied path (`Reload.path`, `Rebuild.feeds`) as [`quoted`] shows text, but with
/// its digits (dates and sequences in file names) and up to [`QUOTED_PATH_CHARS`] characters.
pub fn quoted_path(path: &std::path::Path) -> String {
    quote(&path.to_string_lossy(), QUOTED_PATH_CHARS, None)
}

/// A message that carries caller-derived text (an error naming a caller's path) kept on one
/// line: its control characters escaped, nothing else changed.
pub fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_debug());
            let plain = (!c.is_control()).then_some(c);
            escaped.into_iter().flatten().chain(plain)
        })
        .collect()
}

/// `text` quoted on one line, cut after `max` characters, runs of digits at least `hide_from`
/// long replaced by stars.
fn quote(text: &str, max: usize, hide_from: Option<usize>) -> String {
    let mut out = String::from("\"");
    let mut digits = String::new();
    let hide = |run: usize| hide_from.is_some_and(|n| run >= n);
    let flush = |digits: &mut String, out: &mut String, hidden: bool| {
        if hidden {
            out.extend(std::iter::repeat_n('*', digits.len()));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    let mut chars = text.chars();
    for c in chars.by_ref().take(max) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let run = digits.len();
        flush(&mut digits, &mut out, hide(run));
        out.extend(c.escape_debug());
    }
    // A run of digits cut by the limit hides when the whole run is long.
    let run = digits.len() + chars.clone().take_while(char::is_ascii_digit).count();
    flush(&mut digits, &mut out, hide(run));
    out.push('"');
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_ends_and_the_length() {
        assert_eq!(id_text("11010519491231002X"), "110105********002X");
        assert_eq!(id_text("11010519491231002"), "110105*******1002");
        assert_eq!(phone_text("13800138000"), "138****8000");
        assert_eq!(phone_text("+86 138-0013-8000"), "+86**********8000");
        assert_eq!(
            id_text("1101051949"),
            "**********",
            "too short to keep the ends"
        );
        assert_eq!(
            id_text("建外街道社区建外街道社区建外"),
            "建外街道社区****社区建外"
        );
        assert_eq!(id_text(""), "");
    }

    #[test]
    fn quoted_text_is_short_on_one_line_and_hides_numbers() {
        assert_eq!(quoted("2202-05-10"), r#""2202-05-10""#);
        assert_eq!(quoted("11010519491231002X"), r#""*****************X""#);
        assert_eq!(quoted("call 13800138000"), r#""call ***********""#);
        assert_eq!(
            quoted("/tmp/x\nhealthcode: live write 12 by ops (durable)"),
            r#""/tmp/x\nhealthcode: live write 12 by ops "…"#
        );
        assert!(!quoted("a\rb\u{1b}[2Jc").contains(['\r', '\u{1b}']));
        assert_eq!(
            quoted(&"x".repeat(4 << 20)).len(),
            QUOTED_CHARS + 2 + '…'.len_utf8()
        );
        // A long number cut by the limit is hidden too.
        let cut = format!("{}{}", "a".repeat(QUOTED_CHARS - 3), "11010519491231002X");
        assert!(quoted(&cut).ends_with("***\"…"), "{}", quoted(&cut));
        assert_eq!(quoted("建外街道"), r#""建外街道""#);
        assert_eq!(
            quoted_code("1101050010011"),
            r#""1101050010011""#.replace(|c: char| c.is_ascii_digit(), "*")
        );
        assert_eq!(quoted_code("110105001001x"), r#""110105001001x""#);
        let path = std::path::Path::new("/srv/index-20221210-seq12.hci\nfake line");
        assert_eq!(
            quoted_path(path),
            r#""/srv/index-20221210-seq12.hci\nfake line""#
        );
        assert_eq!(
            one_line("refused: \"a\"\nb\tc 北京"),
            "refused: \"a\"\\nb\\tc 北京"
        );
    }
}
