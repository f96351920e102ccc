//! Stop sequences over a stream: text is released only once it can no longer be the
//! start of a stop sequence, and the stop sequence itself is never released.

/// Buffers generated text against a set of stop sequences.
#[derive(Debug, Default)]
pub struct StopBuffer {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopBuffer {
    /// A buffer for these stop sequences (empty ones are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop sequence has matched.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Adds text; returns what can be released now.
    pub fn push(&mut self, text: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.pending.push_str(text);
        if let Some(at) = self.earliest_match() {
            self.stopped = true;
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return out;
        }
        let hold = self.longest_partial_suffix();
        let cut = self.pending.len() - hold;
        let out = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        out
    }

    /// Releases whatever is held (at the end of generation).
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    fn earliest_match(&self) -> Option<usize> {
        self.stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of a stop.
    fn longest_partial_suffix(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            let max = stop.len().saturating_sub(1).min(self.pending.len());
            for len in (1..=max).rev() {
                let start = self.pending.len() - len;
                if !self.pending.is_char_boundary(start) {
                    continue;
                }
                if stop.starts_with(&self.pending[start..]) {
                    best = best.max(len);
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut buf = StopBuffer::new(&stops);
        let mut out = String::new();
        for p in pieces {
            out.push_str(&buf.push(p));
            if buf.stopped() {
                return (out, true);
            }
        }
        out.push_str(&buf.flush());
        (out, false)
    }

    #[test]
    fn a_stop_split_across_pieces_is_caught_and_dropped() {
        assert_eq!(
            run(&["\n\nUser:"], &["Hello", "\n", "\nUs", "er: hi"]),
            ("Hello".into(), true)
        );
    }

    #[test]
    fn a_near_miss_is_released_in_full() {
        assert_eq!(run(&["STOP"], &["ST", "OR", "Y"]), ("STORY".into(), false));
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
    }

    #[test]
    fn multibyte_text_is_never_split_inside_a_character() {
        assert_eq!(run(&["é!"], &["café", " ok"]), ("café ok".into(), false));
    }
}
