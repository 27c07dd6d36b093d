//! IMAP URL fuzzing harness (`pochta_urlauth::url`, RFC 5092 + RFC 4467 §3), shared by the
//! cargo-fuzz target `imap_url` and the stable replay test in
//! `crates/urlauth/tests/imap_url_fuzz.rs` (both include this file by path).
//!
//! - `ImapUrl::parse` and `split_verifier` never panic, on any bytes;
//! - whatever parses prints (`Display`) to a URL that parses to the same value, and printing
//!   that again gives the same text (one canonical form);
//! - a URL with a verifier splits at it: the rump is a prefix of the URL and ends with the
//!   access identifier, and the rump parses to the same URL without its verifier.
#![allow(dead_code)]

use pochta_urlauth::ImapUrl;
use pochta_urlauth::url::split_verifier;

/// One fuzz run.
pub fn run(data: &[u8]) {
    let Ok(url) = ImapUrl::parse(data) else {
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = split_verifier(s);
        }
        return;
    };
    let printed = url.to_string();
    let again = ImapUrl::parse(printed.as_bytes())
        .unwrap_or_else(|e| panic!("{printed:?} (printed from {url:?}) does not parse: {e}"));
    assert_eq!(again, url, "round trip through {printed:?}");
    assert_eq!(again.to_string(), printed, "two canonical forms");
    if url.verifier.is_some() {
        let text = std::str::from_utf8(data).expect("a parsed URL is UTF-8");
        let (rump, _, _) = split_verifier(text).expect("a URL with a verifier splits");
        assert!(text.starts_with(rump));
        let bare = ImapUrl::parse(rump.as_bytes())
            .unwrap_or_else(|e| panic!("rump {rump:?} does not parse: {e}"));
        assert_eq!(
            bare,
            ImapUrl {
                verifier: None,
                ..url
            }
        );
    }
}
