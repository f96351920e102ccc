//! Server-sent events, read line by line from a blocking body: yields the payload of each
//! `data:` field until `data: [DONE]`; comments, `event:`/`id:` fields and blank lines are
//! skipped. A body that ends before `[DONE]` is an error, not a silent success.

use crate::{Error, Result};
use std::io::BufRead;

/// An iterator of SSE `data` payloads.
pub struct SseReader<R> {
    reader: R,
    done: bool,
}

impl<R: BufRead> SseReader<R> {
    /// Reads events from `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for SseReader<R> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut line = Vec::new();
        loop {
            line.clear();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.done = true;
                    return Some(Err(Error::Upstream {
                        status: None,
                        message: "the stream ended without [DONE]".into(),
                    }));
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(Error::Upstream {
                        status: None,
                        message: format!("reading the stream: {e}"),
                    }));
                }
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let Some(data) = text.strip_prefix("data:") else {
                continue;
            };
            let data = data.strip_prefix(' ').unwrap_or(data);
            if data == "[DONE]" {
                self.done = true;
                return None;
            }
            return Some(Ok(data.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_until_done() {
        let body = ": keep-alive\n\nevent: message\ndata: {\"a\":1}\r\n\ndata:{\"b\":2}\n\ndata: [DONE]\n\ndata: ignored\n";
        let got: Vec<String> = SseReader::new(body.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let got: Vec<Result<String>> = SseReader::new("data: {}\n\n".as_bytes()).collect();
        assert!(got[0].is_ok());
        assert!(got[1].is_err());
        assert_eq!(got.len(), 2);
    }
}
