//! `SET` statements: each assignment with its scope, name and value.
//!
//! Owns the SET grammar MySQL and MariaDB accept: sticky scope keywords (`SET GLOBAL a=1, b=2`
//! sets both globally), `@@scope.name`, `@user`, `NAMES … COLLATE …`, `CHARACTER SET`/`CHARSET`,
//! `[scope] TRANSACTION ISOLATION LEVEL … | READ ONLY | READ WRITE`, `ROLE`. `SET STATEMENT … FOR`,
//! `SET PASSWORD` and `SET DEFAULT ROLE` are recognised by the caller. A malformed item is left
//! out; the statement still routes to the primary, and the server's session tracking corrects
//! the replayed values.

use super::{join, split_top_level, unquote};
use crate::kind::{Scope, SetItem, SetValue};
use crate::lexer::{TokKind, Token};

/// Parses the tokens after `SET` into items.
pub(crate) fn parse_set(src: &str, toks: &[Token<'_>]) -> Vec<SetItem> {
    let mut sticky = Scope::Session;
    let mut items = Vec::new();
    // `SET [scope] TRANSACTION …` is one item whose commas separate characteristics.
    let (scope, rest) = take_scope(toks);
    if rest.first().is_some_and(|t| t.is_word("TRANSACTION")) {
        items.push(transaction(scope, &rest[1..]));
        return items;
    }
    for part in split_top_level(toks, |t| t.is_punct(b',')) {
        let (scope, rest) = take_scope(part);
        if let Some(s) = scope {
            sticky = s;
        }
        if let Some(item) = item(src, sticky, rest) {
            items.push(item);
        }
    }
    items
}

fn take_scope<'t, 'a>(toks: &'t [Token<'a>]) -> (Option<Scope>, &'t [Token<'a>]) {
    let Some(first) = toks.first() else {
        return (None, toks);
    };
    let scope = if first.is_word("SESSION") || first.is_word("LOCAL") {
        Scope::Session
    } else if first.is_word("GLOBAL") {
        Scope::Global
    } else if first.is_word("PERSIST") || first.is_word("PERSIST_ONLY") {
        Scope::Persist
    } else {
        return (None, toks);
    };
    (Some(scope), &toks[1..])
}

fn item(src: &str, scope: Scope, toks: &[Token<'_>]) -> Option<SetItem> {
    let first = toks.first()?;
    if first.is_word("NAMES") {
        let charset = unquote(toks.get(1)?.text).into();
        let collation = match toks.get(2) {
            Some(t) if t.is_word("COLLATE") => Some(unquote(toks.get(3)?.text).into()),
            _ => None,
        };
        return Some(SetItem::Names { charset, collation });
    }
    if first.is_word("CHARSET") {
        return Some(SetItem::CharacterSet(unquote(toks.get(1)?.text).into()));
    }
    if first.is_word("CHARACTER") && toks.get(1).is_some_and(|t| t.is_word("SET")) {
        return Some(SetItem::CharacterSet(unquote(toks.get(2)?.text).into()));
    }
    // name = value, with `=` or `:=`
    let eq = toks
        .iter()
        .position(|t| t.is_punct(b'=') || t.kind == TokKind::Assign)?;
    let value_toks = &toks[eq + 1..];
    if value_toks.is_empty() {
        return None;
    }
    let value = SetValue {
        sql: join(src, value_toks).into(),
        constant: value_toks.len() == 1
            && matches!(
                value_toks[0].kind,
                TokKind::Str | TokKind::Num | TokKind::Word
            )
            || value_toks.len() == 2
                && value_toks[0].is_punct(b'-')
                && value_toks[1].kind == TokKind::Num,
    };
    let name_toks = &toks[..eq];
    match name_toks {
        [t] if t.kind == TokKind::UserVar => {
            let name = unquote(&t.text[1..]).to_ascii_lowercase().into();
            Some(SetItem::UserVariable { name, value })
        }
        [t] if t.kind == TokKind::SysVar => {
            let body = &t.text[2..];
            let (scope, name) = match body.split_once('.') {
                Some((s, n)) if s.eq_ignore_ascii_case("global") => (Scope::Global, n),
                Some((s, n))
                    if s.eq_ignore_ascii_case("persist")
                        || s.eq_ignore_ascii_case("persist_only") =>
                {
                    (Scope::Persist, n)
                }
                Some((_, n)) => (Scope::Session, n),
                None => (scope, body),
            };
            Some(SetItem::Variable {
                scope,
                name: unquote(name).to_ascii_lowercase().into(),
                value,
            })
        }
        [t] if matches!(t.kind, TokKind::Word | TokKind::QuotedIdent) => Some(SetItem::Variable {
            scope,
            name: unquote(t.text).to_ascii_lowercase().into(),
            value,
        }),
        _ => None,
    }
}

fn transaction(scope: Option<Scope>, toks: &[Token<'_>]) -> SetItem {
    let mut isolation = None;
    let mut read_only = None;
    for part in split_top_level(toks, |t| t.is_punct(b',')) {
        let words: Vec<String> = part.iter().map(|t| t.text.to_ascii_uppercase()).collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["ISOLATION", "LEVEL", level @ ..] => isolation = Some(level.join(" ").into()),
            ["READ", "ONLY"] => read_only = Some(true),
            ["READ", "WRITE"] => read_only = Some(false),
            _ => {}
        }
    }
    SetItem::Transaction {
        scope,
        isolation,
        read_only,
    }
}
