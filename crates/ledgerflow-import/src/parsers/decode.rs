//! Turning a file's bytes into text: a BOM first, then the charset the file declares, then "is it
//! valid UTF-8?", then Windows-1252. One odd byte never kills a file: the fallback decodes every
//! byte, and a warning says which encoding was used when it was not UTF-8.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// Text and the name of the encoding it was read with, plus a warning when a guess was made.
pub struct Decoded {
    pub text: String,
    pub encoding: &'static str,
    pub warning: Option<String>,
}

/// Maps the charset names found in OFX headers, XML prologs and CSV exports to an encoding.
pub fn encoding_for(label: &str) -> Option<&'static Encoding> {
    let l = label.trim().trim_matches('"').to_ascii_lowercase();
    match l.as_str() {
        "" | "none" | "usascii" | "us-ascii" => None,
        "1252" | "cp1252" | "windows-1252" => Some(WINDOWS_1252),
        "8859-1" | "iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" => {
            Encoding::for_label(b"iso-8859-1")
        }
        "utf-8" | "utf8" | "unicode" => Some(UTF_8),
        other => Encoding::for_label(other.as_bytes()),
    }
}

/// Decodes `bytes`, preferring `declared` when the bytes are consistent with it.
pub fn decode(bytes: &[u8], declared: Option<&'static Encoding>) -> Decoded {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _, had_errors) = enc.decode(&bytes[bom_len..]);
        return Decoded {
            text: text.into_owned(),
            encoding: enc.name(),
            warning: had_errors.then(|| {
                format!(
                    "some bytes are not valid {}: replaced with U+FFFD",
                    enc.name()
                )
            }),
        };
    }
    let utf8 = std::str::from_utf8(bytes);
    match (declared, utf8) {
        // Valid UTF-8 wins over a declared single-byte charset when the file has non-ASCII
        // bytes: banks declare 1252 and send UTF-8 more often than the reverse.
        (_, Ok(s)) => Decoded {
            text: s.to_string(),
            encoding: "UTF-8",
            warning: match declared {
                Some(d) if d != UTF_8 && !s.is_ascii() => Some(format!(
                    "the file declares {} but is valid UTF-8: read as UTF-8",
                    d.name()
                )),
                _ => None,
            },
        },
        (Some(enc), Err(_)) if enc != UTF_8 => {
            let (text, _) = enc.decode_without_bom_handling(bytes);
            Decoded {
                text: text.into_owned(),
                encoding: enc.name(),
                warning: None,
            }
        }
        (_, Err(_)) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            Decoded {
                text: text.into_owned(),
                encoding: WINDOWS_1252.name(),
                warning: Some("the file is not valid UTF-8: read as Windows-1252".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_declared_utf8_and_fallback() {
        assert_eq!(decode(b"\xEF\xBB\xBFcaf\xC3\xA9", None).text, "café");
        let d = decode(b"caf\xE9", None);
        assert_eq!(d.text, "café");
        assert!(d.warning.is_some());
        let d = decode(b"caf\xE9", encoding_for("8859-1"));
        assert_eq!(d.text, "café");
        assert!(d.warning.is_none());
        let d = decode("café".as_bytes(), encoding_for("1252"));
        assert_eq!(d.text, "café");
        assert!(d.warning.is_some(), "declared 1252 but UTF-8 is noted");
    }
}
