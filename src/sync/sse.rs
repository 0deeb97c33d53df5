//! A bounded parser for `text/event-stream` (the HTML living standard's
//! event-stream format, as MCP uses it): fed bytes as they arrive, it yields
//! complete events and refuses any event larger than its limit, so a hostile
//! server cannot make the client buffer without end.

/// One event: its `event` field (default `message`) and joined `data` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    pub data: String,
}

/// Why the stream cannot be parsed further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event-stream event exceeds {0} bytes")]
    TooLarge(usize),
    #[error("the event stream is not UTF-8")]
    NotUtf8,
}

/// Incremental parser.
#[derive(Debug)]
pub struct Parser {
    buffer: Vec<u8>,
    event: String,
    data: Vec<String>,
    /// Bytes in the event being assembled (buffered line + fields).
    pending: usize,
    max_event_bytes: usize,
}

impl Parser {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            buffer: Vec::new(),
            event: String::new(),
            data: Vec::new(),
            pending: 0,
            max_event_bytes,
        }
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SseError> {
        let mut events = Vec::new();
        self.buffer.extend_from_slice(bytes);
        self.pending += bytes.len();
        if self.pending > self.max_event_bytes {
            return Err(SseError::TooLarge(self.max_event_bytes));
        }
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
            if line.is_empty() {
                // An event whose data is empty is not dispatched (the
                // standard's rule): 2025-11-25 servers open a stream with
                // such a priming event, carrying only an `id`.
                let data = self.data.join("\n");
                if !data.is_empty() {
                    let event = if self.event.is_empty() {
                        "message".to_owned()
                    } else {
                        std::mem::take(&mut self.event)
                    };
                    events.push(Event { event, data });
                }
                self.data.clear();
                self.event.clear();
                self.pending = self.buffer.len();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (
                    field.to_owned(),
                    value.strip_prefix(' ').unwrap_or(value).to_owned(),
                ),
                None => (line, String::new()),
            };
            match field.as_str() {
                "event" => self.event = value,
                "data" => self.data.push(value),
                // `id` and `retry` do not matter for a one-shot sync.
                _ => {}
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_priming_event_with_empty_data_is_not_dispatched() {
        let mut parser = Parser::new(1024);
        let events = parser.feed(b"id: 0\ndata:\n\nid: 1\ndata: \n\nevent: message\ndata: {}\n\n");
        let data: Vec<String> = events.expect("ok").into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["{}"]);
    }

    #[test]
    fn events_split_across_chunks_are_joined() {
        let mut parser = Parser::new(1024);
        assert!(
            parser
                .feed(b"event: endpoint\r\nda")
                .expect("ok")
                .is_empty()
        );
        let events = parser
            .feed(b"ta: /messages?session=1\r\n\r\n: comment\n\ndata: a\ndata: b\n\n")
            .expect("ok");
        assert_eq!(
            events,
            vec![
                Event {
                    event: "endpoint".into(),
                    data: "/messages?session=1".into()
                },
                Event {
                    event: "message".into(),
                    data: "a\nb".into()
                },
            ]
        );
    }

    #[test]
    fn an_event_larger_than_the_limit_is_refused() {
        let mut parser = Parser::new(16);
        assert_eq!(parser.feed(&[b'x'; 17]), Err(SseError::TooLarge(16)));
        let mut parser = Parser::new(16);
        assert!(parser.feed(b"data: 12345678\n").is_ok());
        assert!(parser.feed(b"data: 12345678\n").is_err());
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let mut parser = Parser::new(64);
        assert_eq!(parser.feed(b"data: \xff\xfe\n\n"), Err(SseError::NotUtf8));
    }
}
