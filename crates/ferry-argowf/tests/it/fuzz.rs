//! The stream parser fuzzed: any cut of a stream into chunks gives the same events; a stream cut in
//! the middle of an event is noticed; garbage never panics and never becomes an event.

use ferry_argowf::StreamParser;
use ferry_argowf::types::{LogEntry, WorkflowWatchEvent};
use proptest::prelude::*;

fn event(i: usize) -> String {
    format!(
        "{{\"result\":{{\"type\":\"MODIFIED\",\"object\":{{\"metadata\":{{\"name\":\"wf\",\"resourceVersion\":\"{i}\"}},\"status\":{{\"phase\":\"Running\",\"nodes\":{{\"wf\":{{\"id\":\"wf\",\"name\":\"wf\",\"phase\":\"Running\"}}}}}}}}}}}}"
    )
}

fn parse_all(parser: &mut StreamParser<WorkflowWatchEvent>, chunk: &[u8]) -> Vec<String> {
    parser
        .push(chunk)
        .into_iter()
        .map(|r| r.unwrap().result.unwrap().object.unwrap().metadata.resource_version.unwrap())
        .collect()
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_events(n in 1usize..6, cuts in proptest::collection::vec(0usize..3000, 0..12)) {
        let stream: String = (0..n).map(|i| event(i) + "\n").collect();
        let bytes = stream.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut parser = StreamParser::new();
        let mut got = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            got.extend(parse_all(&mut parser, &bytes[last..p]));
            last = p;
        }
        prop_assert!(!parser.is_cut());
        let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn a_stream_cut_inside_an_event_is_noticed(n in 1usize..4, at in 1usize..500) {
        let stream: String = (0..n).map(|i| event(i) + "\n").collect();
        let last_len = event(n - 1).len();
        let last_start = stream.len() - last_len - 1;
        let cut = last_start + at % last_len;
        prop_assume!(cut > last_start);
        let mut parser: StreamParser<WorkflowWatchEvent> = StreamParser::new();
        let items = parser.push(&stream.as_bytes()[..cut]);
        prop_assert_eq!(items.len(), n - 1);
        prop_assert!(items.iter().all(Result::is_ok));
        prop_assert!(parser.is_cut());
    }

    #[test]
    fn garbage_never_panics_and_each_line_gives_one_item(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut parser: StreamParser<LogEntry> = StreamParser::new();
        let items = parser.push(&bytes);
        let complete = bytes.split(|b| *b == b'\n').count() - 1;
        let nonblank = bytes
            .split(|b| *b == b'\n')
            .take(complete)
            .filter(|l| !String::from_utf8_lossy(l).trim().is_empty())
            .count();
        prop_assert_eq!(items.len(), nonblank);
    }

    #[test]
    fn garbled_events_are_errors_not_events(n in 1usize..4, flip in 0usize..300) {
        let mut line = event(n).into_bytes();
        let i = flip % line.len();
        line[i] = b'{';
        line.push(b'\n');
        let mut parser: StreamParser<WorkflowWatchEvent> = StreamParser::new();
        let items = parser.push(&line);
        prop_assert_eq!(items.len(), 1);
    }
}

#[test]
fn error_lines_log_lines_and_blank_lines() {
    let mut parser: StreamParser<LogEntry> = StreamParser::new();
    let items = parser.push(
        b"\n  \n{\"error\":{\"grpc_code\":16,\"http_code\":401,\"message\":\"token not valid\"}}\n{\"result\":{\"content\":\"hello\",\"podName\":\"p\"}}\n{not json\n",
    );
    assert_eq!(items.len(), 3);
    let error = items[0].as_ref().unwrap().error.as_ref().unwrap();
    assert_eq!((error.grpc_code, error.message.as_deref()), (Some(16), Some("token not valid")));
    assert_eq!(items[1].as_ref().unwrap().result.as_ref().unwrap().content.as_deref(), Some("hello"));
    let err = items[2].as_ref().unwrap_err().to_string();
    assert!(err.starts_with("malformed line in the stream"), "{err}");
}
