//! The stream parser fuzzed: any cut of a stream into chunks gives the same events; a stream cut in
//! the middle of an event is noticed; garbage never panics and never becomes an event.

use ferry_argocd::types::ApplicationWatchEvent;
use proptest::prelude::*;

type StreamParser = ferry_argocd::StreamParser<ApplicationWatchEvent>;
type StreamResult = ferry_argocd::types::StreamResult<ApplicationWatchEvent>;

fn event(i: usize) -> String {
    format!(
        "{{\"result\":{{\"type\":\"MODIFIED\",\"application\":{{\"metadata\":{{\"name\":\"app\",\"resourceVersion\":\"{i}\"}},\"status\":{{\"sync\":{{\"status\":\"Synced\",\"revision\":\"r{i}\"}}}}}}}}}}"
    )
}

fn versions(items: &[StreamResult]) -> Vec<String> {
    items
        .iter()
        .map(|r| r.result.as_ref().unwrap().application.as_ref().unwrap().metadata.resource_version.clone().unwrap())
        .collect()
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_events(n in 1usize..6, cuts in proptest::collection::vec(0usize..2000, 0..12)) {
        let stream: String = (0..n).map(|i| event(i) + "\n").collect();
        let bytes = stream.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut parser = StreamParser::new();
        let mut got = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            for item in parser.push(&bytes[last..p]) {
                got.push(item.unwrap());
            }
            last = p;
        }
        prop_assert!(!parser.is_cut());
        let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        prop_assert_eq!(versions(&got), want);
    }

    #[test]
    fn a_stream_cut_inside_an_event_is_noticed(n in 1usize..4, at in 1usize..400) {
        let stream: String = (0..n).map(|i| event(i) + "\n").collect();
        let last_start = stream.len() - event(n - 1).len() - 1;
        let cut = last_start + at % event(n - 1).len();
        prop_assume!(cut > last_start);
        let mut parser = StreamParser::new();
        let items = parser.push(&stream.as_bytes()[..cut]);
        prop_assert_eq!(items.len(), n - 1);
        prop_assert!(items.iter().all(Result::is_ok));
        prop_assert!(parser.is_cut());
    }

    #[test]
    fn garbage_never_panics_and_each_line_gives_one_item(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut parser = StreamParser::new();
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
        let mut parser = StreamParser::new();
        let items = parser.push(&line);
        prop_assert_eq!(items.len(), 1);
        if let Ok(r) = &items[0] {
            // Only a byte that keeps it valid JSON of the same shape may parse.
            prop_assert!(r.error.is_none());
        }
    }
}

#[test]
fn error_lines_and_blank_lines() {
    let mut parser = StreamParser::new();
    let items = parser
        .push(b"\n  \n{\"error\":{\"grpc_code\":16,\"http_code\":401,\"message\":\"invalid session\"}}\n{not json\n");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().error.as_ref().unwrap().message.as_deref(), Some("invalid session"));
    let err = items[1].as_ref().unwrap_err().to_string();
    assert!(err.starts_with("malformed line in the stream"), "{err}");
}
