//! Where each key path sits in the YAML text, so semantic errors can say `proxy.yaml:12:5`.
//!
//! serde_yaml forgets positions once a document is parsed, so the text is read a second time
//! with an event parser that keeps them. Paths use the error format: `servers[2].weight`.
//! A mapping entry is placed at its key, a list item at its first character.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// Key path → (line, column), both 1-based.
#[derive(Debug, Default)]
pub struct Positions {
    map: HashMap<String, (usize, usize)>,
    /// Keys written a second time in the same mapping, with the second place.
    repeated: Vec<(String, (usize, usize))>,
}

/// What the scanner is inside of, and where the next node goes.
enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

impl Positions {
    /// Scans `text`. Best effort: on a YAML error (which serde_yaml reports anyway) the
    /// positions found so far are kept.
    pub fn scan(text: &str) -> Positions {
        let mut positions = Positions::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let here = (span.start.line(), span.start.col() + 1);
            match event {
                Event::Scalar(..) | Event::Alias(_) => {
                    let key = match &event {
                        Event::Scalar(text, ..) => Some(text.to_string()),
                        _ => None,
                    };
                    positions.node(&mut stack, here, key);
                }
                Event::MappingStart(..) => {
                    let path = positions.node(&mut stack, here, None);
                    stack.push(Frame::Map { path, key: None });
                }
                Event::SequenceStart(..) => {
                    let path = positions.node(&mut stack, here, None);
                    stack.push(Frame::Seq { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        positions
    }

    /// Records a node starting at `here` and returns its path. `scalar` is the node's text
    /// when it is a scalar, which makes it a key when a mapping expects one.
    fn node(
        &mut self,
        stack: &mut [Frame],
        here: (usize, usize),
        scalar: Option<String>,
    ) -> String {
        match stack.last_mut() {
            None => String::new(),
            Some(Frame::Seq { path, next }) => {
                let item = format!("{path}[{next}]");
                *next += 1;
                self.map.entry(item.clone()).or_insert(here);
                item
            }
            Some(Frame::Map { path, key }) => match key.take() {
                // A value: its key was recorded already.
                Some(key) => join(path, &key),
                None => {
                    // A key. Non-scalar keys get a path no config key can have.
                    let name = scalar.unwrap_or_else(|| "?".into());
                    let full = join(path, &name);
                    if self.map.contains_key(&full) {
                        self.repeated.push((full.clone(), here));
                    } else {
                        self.map.insert(full.clone(), here);
                    }
                    *key = Some(name);
                    full
                }
            },
        }
    }

    /// The first key written twice in one mapping: its path and the second place.
    pub fn first_repeated(&self) -> Option<(&str, (usize, usize))> {
        self.repeated.first().map(|(path, at)| (path.as_str(), *at))
    }

    /// Line and column of `path`, or of its nearest ancestor present in the text
    /// (a missing key is reported where its section is).
    pub fn find(&self, mut path: &str) -> Option<(usize, usize)> {
        loop {
            if let Some(&found) = self.map.get(path) {
                return Some(found);
            }
            path = parent(path)?;
        }
    }
}

/// `a.b` under `a`, or `b` at the top.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `servers[2].weight` → `servers[2]` → `servers` → `` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = match path.strip_suffix(']') {
        Some(_) => path.rfind('['),
        None => path.rfind('.'),
    };
    Some(cut.map_or("", |i| &path[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
listen: 127.0.0.1:6033
admin:
  listen: 127.0.0.1:6034
servers:
  - { address: 127.0.0.1:13306, role: primary }
  - address: 127.0.0.1:13307
    role: replica
routing:
  rules:
    - match: { regex: '^select' }
      target: replica
";

    #[test]
    fn finds_keys_and_items_in_block_and_flow_style() {
        let p = Positions::scan(TEXT);
        assert_eq!(p.find("listen"), Some((1, 1)));
        assert_eq!(p.find("admin.listen"), Some((3, 3)));
        assert_eq!(p.find("servers"), Some((4, 1)));
        assert_eq!(p.find("servers[0]"), Some((5, 5)));
        assert_eq!(p.find("servers[0].role"), Some((5, 33)));
        assert_eq!(p.find("servers[1]"), Some((6, 5)));
        assert_eq!(p.find("servers[1].role"), Some((7, 5)));
        assert_eq!(p.find("routing.rules[0].match.regex"), Some((10, 16)));
        assert_eq!(p.find("routing.rules[0].target"), Some((11, 7)));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let p = Positions::scan(TEXT);
        assert_eq!(p.find("servers[1].weight"), Some((6, 5)));
        assert_eq!(p.find("pool.max_size"), None);
        assert_eq!(p.find(""), None);
    }

    #[test]
    fn remembers_where_a_key_is_written_again() {
        let p = Positions::scan("pool:\n  max_size: 1\n  min_idle: 1\n  max_size: 2\n");
        assert_eq!(p.first_repeated(), Some(("pool.max_size", (4, 3))));
        assert_eq!(p.find("pool.max_size"), Some((2, 3)));
        assert_eq!(Positions::scan(TEXT).first_repeated(), None);
    }

    #[test]
    fn parent_walks_up_one_segment() {
        assert_eq!(parent("servers[2].weight"), Some("servers[2]"));
        assert_eq!(parent("servers[2]"), Some("servers"));
        assert_eq!(parent("servers"), Some(""));
        assert_eq!(parent(""), None);
    }
}
