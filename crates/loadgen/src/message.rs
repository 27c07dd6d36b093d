//! Deterministic test messages: the same seed gives the same bytes against every server.

/// SplitMix64: tiny, fast and good enough to pick words and message numbers.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "почта",
    "mail",
    "server",
    "benchmark",
    "imap",
    "message",
    "quarterly",
    "report",
    "meeting",
    "tomorrow",
    "письмо",
    "отчёт",
    "attached",
    "please",
    "review",
    "thanks",
    "regards",
    "draft",
    "budget",
    "schedule",
    "the",
    "a",
    "and",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "is",
];

/// A multipart/mixed message of about `size` bytes (text part plus a base64 attachment), so
/// ENVELOPE and BODYSTRUCTURE have something to describe.
pub fn generate(rng: &mut Rng, to: &str, size: usize) -> Vec<u8> {
    let n = rng.next_u64();
    let subject: Vec<&str> = (0..5).map(|_| WORDS[rng.below(WORDS.len())]).collect();
    let boundary = format!("=_bench_{n:016x}");
    let mut m = String::with_capacity(size + 1024);
    m.push_str(&format!(
        "From: Bench Sender <sender{}@bench.test>\r\n\
         To: <{to}>\r\n\
         Subject: =?UTF-8?B?{}?=\r\n\
         Date: Mon, 6 Jan 2025 10:{:02}:{:02} +0000\r\n\
         Message-ID: <{n:016x}@bench.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\
         \r\n\
         This is a multi-part message in MIME format.\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n",
        n % 50,
        base64(subject.join(" ").as_bytes()),
        (n >> 8) % 60,
        (n >> 16) % 60,
    ));
    let text_target = size * 2 / 3;
    let mut line_len = 0;
    while m.len() < text_target {
        let w = WORDS[rng.below(WORDS.len())];
        m.push_str(w);
        line_len += w.len() + 1;
        if line_len > 70 {
            m.push_str("\r\n");
            line_len = 0;
        } else {
            m.push(' ');
        }
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
         Content-Disposition: attachment; filename=\"data.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n"
    ));
    let remaining = size.saturating_sub(m.len() + boundary.len() + 8);
    let raw: Vec<u8> = (0..remaining * 3 / 4)
        .map(|_| rng.next_u64() as u8)
        .collect();
    let encoded = base64(&raw);
    for chunk in encoded.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        m.push_str("\r\n");
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_answers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn messages_are_deterministic_and_about_the_right_size() {
        let a = generate(&mut Rng::new(7), "u1@bench.test", 10_240);
        let b = generate(&mut Rng::new(7), "u1@bench.test", 10_240);
        assert_eq!(a, b);
        assert!((9_500..11_000).contains(&a.len()), "{}", a.len());
        assert!(
            a.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'),
            "bare LF"
        );
    }
}
