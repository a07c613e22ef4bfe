//! People's names as the gallery stores and compares them. A name arrives from a keyboard, a web
//! form or a shell, so the same name can come as different code points ("é" precomposed or as "e"
//! plus an accent), in another case or with a doubled space; and invisible characters can make
//! two names look alike on screen while differing in the file. So a name is stored in Unicode NFC
//! with single spaces; names with invisible, format or direction-changing characters, spaces
//! other than U+0020, code points Unicode has not assigned, non-characters, or piles of combining
//! marks are refused; and two names whose folded forms (`key`) are equal are the same person.
use unicode_normalization::char::{is_combining_mark, is_public_assigned};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Most characters a name may have.
pub const MAX_CHARS: usize = 100;

/// Most combining marks in a row. Names need few once in NFC: Vietnamese "ệ" and Arabic shadda
/// with a vowel take two, a Tibetan stack three; more only pile marks over one letter until they
/// cover the text around it ("Zalgo" text).
pub const MAX_MARKS: usize = 4;

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

/// Unicode's format characters (General_Category Cf), which change how the text around them is
/// shown or joined without being seen themselves: the whole category in Unicode 18, as the
/// `unicode-properties` crate 0.1.5 lists it (`GeneralCategory::Format`). Most are in `invisible`
/// too; this list also holds the ones that are not default-ignorable (Arabic pound and piastre
/// marks above, the Egyptian hieroglyph format controls, the Kaithi number signs).
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}' | '\u{08E2}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}'
    )
}

/// The longest run of combining marks in `s`, and whether `s` starts with one (a mark with no
/// letter of its own is drawn over whatever precedes the name on screen).
fn marks(s: &str) -> (usize, bool) {
    let (mut run, mut most) = (0, 0);
    for c in s.chars() {
        run = if is_combining_mark(c) { run + 1 } else { 0 };
        most = most.max(run);
    }
    (most, s.chars().next().is_some_and(is_combining_mark))
}

/// The name as stored: NFC, checked. Names are shown in the app and typed on the command line:
/// 1 to 100 characters, no control, invisible, format or direction-changing characters, no space
/// but U+0020 (a run of them is stored as one), only code points Unicode has assigned, at most
/// `MAX_MARKS` combining marks in a row, no path separators, not `.` or `..`, no leading or
/// trailing spaces. The error names the field `name`.
pub fn canonical(name: &str) -> Result<String> {
    let mut nfc: String = name.nfc().collect();
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
    if let Some(c) = nfc.chars().find(|&c| is_format(c)) {
        return bad(format!("{nfc:?} contains a format character (U+{:04X}), which changes how text is shown without being seen", c as u32));
    }
    if let Some(c) = nfc.chars().find(|&c| c.is_whitespace() && c != ' ') {
        return bad(format!("{nfc:?} contains a space other than the ordinary one (U+{:04X}); type an ordinary space", c as u32));
    }
    if let Some(c) = nfc.chars().find(|&c| !is_public_assigned(c)) {
        return bad(format!("{nfc:?} contains U+{:04X}, a code point Unicode has not assigned to a character (or a non-character)", c as u32));
    }
    match marks(&nfc) {
        (_, true) => return bad(format!("{nfc:?} starts with a combining mark, which has no letter to sit on")),
        (n, _) if n > MAX_MARKS => return bad(format!("{nfc:?} stacks {n} combining marks on one letter; at most {MAX_MARKS} are accepted")),
        _ => {}
    }
    // A mark on a space draws over the neighbouring letters: "Tony \u{301}Blair" looks like
    // "Tony Blair" with an accent, or like "Tony Blair" itself.
    if nfc.chars().zip(nfc.chars().skip(1)).any(|(a, b)| a == ' ' && is_combining_mark(b)) {
        return bad(format!("{nfc:?} puts a combining mark on a space, which has no letter to sit on"));
    }
    // The replacement characters stand for text that is not there; some screens draw nothing.
    if let Some(c) = nfc.chars().find(|c| matches!(c, '\u{FFFC}' | '\u{FFFD}')) {
        return bad(format!("{nfc:?} contains a replacement character (U+{:04X}), which stands for missing text", c as u32));
    }
    if nfc.contains(['/', '\\']) || nfc == "." || nfc == ".." {
        return bad(format!("{nfc:?} contains a path character"));
    }
    if nfc.trim() != nfc {
        return bad(format!("{nfc:?} starts or ends with a space"));
    }
    // "Tony  Blair" is shown as "Tony Blair" by every browser: stored as such.
    while nfc.contains("  ") {
        nfc = nfc.replace("  ", " ");
    }
    if !nfc.chars().any(char::is_alphanumeric) {
        return bad(format!("{nfc:?} has no letter or digit"));
    }
    Ok(nfc)
}

/// What two names are compared by: equal keys are the same person. Compatibility forms fold
/// (full-width "Ａｄａ" is "Ada"), case folds, and "ß" is "ss" as in full case folding.
/// Lookalikes across scripts (Latin "a", Cyrillic "а") stay different names. Any run of spaces
/// of any kind is one space, so names stored before spaces were checked still match.
pub fn key(name: &str) -> String {
    let folded: String = name.nfkc().collect::<String>().to_lowercase().replace('ß', "ss").nfkc().collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
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
    fn names_with_odd_spaces_format_unassigned_or_piled_up_characters_are_refused() {
        let cases = [
            ("Tony\u{1680}Blair", "other than the ordinary"),
            ("Tony\u{A0}Blair", "other than the ordinary"),
            ("Tony\u{3000}Blair", "other than the ordinary"),
            ("Ada\u{0890}", "format character"),
            ("Ada\u{13430}", "format character"),
            ("Ada\u{1343F}", "format character"),
            ("Ada\u{0891}", "format character"),
            ("Ada\u{FDD0}", "not assigned"),
            ("Ada\u{FFFE}", "not assigned"),
            ("Ada\u{1FFFF}", "not assigned"),
            ("Ada\u{0378}", "not assigned"),
            ("Ada\u{2FFFD}", "not assigned"),
            ("Za\u{300}\u{301}\u{302}\u{303}\u{304}\u{305}lgo", "5 combining marks"),
            ("\u{301}Ada", "starts with a combining mark"),
            ("Tony \u{301}Blair", "combining mark on a space"),
            ("Tony\u{FFFC}Blair", "replacement character"),
            ("Tony\u{FFFD}Blair", "replacement character"),
        ];
        for (bad, why) in cases {
            let e = canonical(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        // Names that need marks: Vietnamese (decomposed as some keyboards type it), Arabic with
        // shadda and vowels, Hindi conjuncts, Thai tone marks, a Tibetan stack.
        for good in ["Nguye\u{302}\u{303}n Thi\u{323} A\u{301}nh", "مُحَمَّد", "क्षितिज", "สมชาย ก้อง", "བསྒྲུབས་", "Ma\u{301}\u{302}\u{303}\u{304}x"] {
            assert!(canonical(good).is_ok(), "{good:?}: {:?}", canonical(good));
        }
    }

    #[test]
    fn runs_of_spaces_are_one_space_when_stored_and_compared() {
        assert_eq!(canonical("Tony  Blair").unwrap(), "Tony Blair");
        assert_eq!(canonical("Tony     Blair").unwrap(), "Tony Blair");
        assert_eq!(key("Tony  Blair"), key("tony blair"));
        // As stored by an older version, before spaces were checked.
        assert_eq!(key("Tony\u{1680}Blair"), key("Tony Blair"));
        assert_eq!(key("Tony\u{A0}\u{A0}Blair"), key("Tony Blair"));
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
