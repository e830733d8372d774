//! Masking of document and phone numbers for logs, errors, reports and audit records: one
//! function, so every place hides the same characters and none shows a whole number.

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
}
