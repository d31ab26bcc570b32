//! Prints the classification and routing of each line of standard input (a fresh session).
use std::io::BufRead;

use splitrail_router::{Policy, SessionState, classify, route};

fn main() {
    let policy = Policy::default();
    let state = SessionState::new("app");
    for line in std::io::stdin().lock().lines() {
        let Ok(sql) = line else { break };
        let c = classify(&sql);
        let d = route(&c, &state, &policy);
        println!(
            "{} {} {:?} {:?} | {}",
            d.target.as_str(),
            d.reason,
            c.kind(),
            c.effects(),
            c.digest().text
        );
    }
}
