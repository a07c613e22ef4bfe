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

/// Characters that are not seen, or change how text around them is seen: Unicode's
/// Default_Ignorable_Code_Point set (zero-width characters, direction marks and controls,
/// variation selectors, fillers, tags), the other format characters, the line and paragraph
/// separators, blank lookalikes and the private-use areas.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'   // Mongolian selectors and vowel separator
        | '\u{200B}'..='\u{200F}'   // zero-width space, non-joiner, joiner; LRM, RLM
        | '\u{2028}'..='\u{202E}'   // line and paragraph separators; LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, isolates, deprecated format
        | '\u{2800}'                // braille blank
        | '\u{3164}' | '\u{FFA0}'    // Hangul fillers
        | '\u{FE00}'..='\u{FE0F}'   // variation selectors
        | '\u{FEFF}'                // zero-width no-break space (byte order mark)
        | '\u{FFF0}'..='\u{FFFB}'   // unassigned specials, interlinear annotation
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{08E2}' | '\u{110BD}' | '\u{110CD}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}' // tags and variation selectors supplement
        | '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}' // private use
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
    if !nfc.chars().any(char::is_alphanumeric) {
        return bad(format!("{nfc:?} has no letter or digit"));
    }
    Ok(nfc)
}

/// What two names are compared by: equal keys are the same person. Compatibility forms fold
/// (full-width "Ａｄａ" is "Ada"), case folds, and "ß" is "ss" as in full case folding.
/// Lookalikes across scripts (Latin "a", Cyrillic "а") stay different names.
pub fn key(name: &str) -> String {
    name.nfkc().collect::<String>().to_lowercase().replace('ß', "ss").nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_path_control_or_invisible_characters_are_refused() {
        for bad in [
            "", "a/b", "..", "a\\b", "tab\there", " lead", "new\nline", "Ad\u{200B}a", "\u{202E}adA", "Ada\u{2066}", "\u{FEFF}Ada", "Ada\u{34F}",
            "Ada\u{E0041}", "Ada\u{206A}", "Ada\u{FFF9}", "Ada\u{FE0F}", "A\u{2028}da", "\u{3164}\u{3164}", "\u{2800}", "...", "Ada\u{E000}",
        ] {
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
        assert_eq!(key("Ａｄａ"), key("ada"));
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_ne!(key("Ada"), key("Adа"), "Cyrillic а is another letter");
    }
}
