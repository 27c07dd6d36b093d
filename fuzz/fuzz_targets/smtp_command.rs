//! Feed arbitrary bytes to the SMTP framer in chunks chosen by the input; every line goes to
//! the command parser, and DATA / BDAT switch the framer as a session would. Nothing may
//! panic, and the events must not depend on the chunking (checked against one-shot feeding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_smtp_proto::{Command, Event, Framer, Limits, parse_command};

fn run(data: &[u8], chunk: usize) -> Vec<Event> {
    let mut f = Framer::new(Limits { max_line: 128 });
    let mut events = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        f.feed(piece);
        while let Some(ev) = f.next_event() {
            if let Event::Line(line) = &ev {
                match parse_command(line) {
                    Ok(Command::Data) => f.start_data(512),
                    Ok(Command::Bdat { size, .. }) => f.start_bdat(size % 1024, size % 3 != 0),
                    Ok(cmd) => {
                        let _ = cmd.verb();
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
            events.push(ev);
        }
    }
    events
}

fuzz_target!(|data: &[u8]| {
    let (chunk, data) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c % 64) + 1, rest),
        None => return,
    };
    assert_eq!(run(data, chunk), run(data, data.len().max(1)));
});
