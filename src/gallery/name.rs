//! People's names as the gallery stores and compares them. A name arrives from a keyboard, a web
//! form or a shell, so the same name can come as different code points ("é" precomposed or as "e"
//! plus an accent) or in another case; and invisible characters can make two names look alike on
//! screen while differing in the file. So a name is stored in Unicode NFC, names with invisible
//! or direction-changing characters are refused, and two names whose NFC lowercase forms are
//! equal are the same person.
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Most characters a name may have.
pub const MAX_CHARS: usize = 100;

/// Characters that change the order or visibility of text without being seen: the bidi
/// embeddings, overrides and isolates, the direction marks, and the zero-width characters.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'      // zero-width space, non-joiner, joiner; LRM, RLM
        | '\u{202A}'..='\u{202E}'    // LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{2064}'    // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'    // LRI, RLI, FSI, PDI
        | '\u{061C}'                 // Arabic letter mark
        | '\u{180E}'                 // Mongolian vowel separator
        | '\u{FEFF}'                 // zero-width no-break space (byte order mark)
        | '\u{00AD}'                 // soft hyphen
    )
}

/// The name as stored: NFC, checked. Names are shown in the app and typed on the command line:
/// 1 to 100 characters, no control, invisible or direction-changing characters, no path
/// separators, not `.` or `..`, no leading or trailing spaces. The error names the field `name`.
pub fn canonical(name: &str) -> Result<String> {
    let nfc: String = name.nfc().collect();
    let bad = |reason: String| Err(Error::input("name", reason));
    if nfc.is_empty() || nfc.chars().count() > MAX_CHARS {
        return bad(format!("a name has 1 to {MAX_CHARS} characters"));
    }
    if let Some(c) = nfc.chars().find(|c| c.is_control()) {
        return bad(format!("{nfc:?} contains a control character (U+{:04X})", c as u32));
    }
    if let Some(c) = nfc.chars().find(|&c| invisible(c)) {
        return bad(format!("{nfc:?} contains an invisible or text-direction character (U+{:04X})", c as u32));
    }
    if nfc.contains(['/', '\\']) || nfc == "." || nfc == ".." {
        return bad(format!("{nfc:?} contains a path character"));
    }
    if nfc.trim() != nfc {
        return bad(format!("{nfc:?} starts or ends with a space"));
    }
    Ok(nfc)
}

/// What two names are compared by: equal keys are the same person.
pub fn key(name: &str) -> String {
    name.nfc().collect::<String>().to_lowercase().nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_path_control_or_invisible_characters_are_refused() {
        for bad in ["", "a/b", "..", "a\\b", "tab\there", " lead", "new\nline", "Ad\u{200B}a", "\u{202E}adA", "Ada\u{2066}", "\u{FEFF}Ada"] {
            assert!(canonical(bad).is_err(), "{bad:?}");
        }
        for good in ["Ada Lovelace", "José", "O'Brien-2", "Zoë", "李小龙"] {
            assert_eq!(canonical(good).unwrap(), good);
        }
    }

    #[test]
    fn decomposed_and_differently_cased_names_share_one_key() {
        let decomposed = "Jose\u{301}";
        assert_eq!(canonical(decomposed).unwrap(), "José");
        assert_eq!(key(decomposed), key("JOSÉ"));
        assert_ne!(key("José"), key("Jose"));
    }
}
