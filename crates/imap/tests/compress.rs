//! COMPRESS=DEFLATE (RFC 4978).

mod common;

use common::*;

#[test]
fn compress_deflate() {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use std::io::Read;
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("z", &"compressible ".repeat(500)));
    let r = c.ok("CAPABILITY");
    assert!(has(&r, "COMPRESS=DEFLATE"));
    let r = c.ok("COMPRESS DEFLATE");
    assert!(r.last().unwrap().contains("OK DEFLATE active"), "{r:#?}");
    // From here on both directions are raw DEFLATE.
    let mut comp = Compress::new(Compression::default(), false);
    let mut decomp = Decompress::new(false);
    let mut send = |c: &mut Client, text: &[u8]| {
        let mut out = Vec::with_capacity(text.len() + 64);
        comp.compress_vec(text, &mut out, FlushCompress::Sync)
            .unwrap();
        c.send(&out);
    };
    send(
        &mut c,
        b"z1 SELECT INBOX\r\nz2 FETCH 1 BODY.PEEK[TEXT]\r\nz3 COMPRESS DEFLATE\r\n",
    );
    let mut got = Vec::new();
    let mut stream = c.raw_stream();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("z3 ") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        let mut out = Vec::with_capacity(n * 20 + 1024);
        decomp
            .decompress_vec(&buf[..n], &mut out, FlushDecompress::Sync)
            .unwrap();
        got.extend_from_slice(&out);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("z1 OK [READ-WRITE]"), "{text}");
    assert!(text.contains("compressible compressible"), "{text}");
    assert!(text.contains("z3 NO [COMPRESSIONACTIVE]"), "{text}");
}
