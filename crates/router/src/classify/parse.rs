//! The slow path: confirming a read with sqlparser (MySQL dialect) and listing its tables.
//!
//! Owns the only use of sqlparser. It runs for statements the lexer believes are plain reads
//! (SELECT, WITH, TABLE, VALUES, a parenthesised query) and have no side-effect marker: a replica
//! may only get such a statement if a real parser agrees it is a single query that reads, and
//! then the tables it reads are known (for the temporary-table check). Any error means "unknown".

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SetExpr, Statement, visit_expressions, visit_relations};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::add_name;
use super::functions::is_built_in;

/// Statements longer than this are not handed to sqlparser; they go to the primary.
pub const MAX_PARSE_LEN: usize = 256 * 1024;

/// sqlparser's nesting limit: deeper input is an error, never a stack overflow.
const RECURSION_LIMIT: usize = 48;

/// A read confirmed by the parser, with the tables it reads (lower-cased, unqualified).
pub(crate) struct ParsedRead {
    pub tables: Vec<Box<str>>,
    /// The schemas its table names are qualified with (`db.t`: `db`), lower-cased.
    pub schemas: Vec<Box<str>>,
    /// It calls a function that is not built in (or a schema-qualified one).
    pub calls_stored_function: bool,
    /// A table is named by a `"…"` or `'…'` token, which the digest replaces by `?`: the table
    /// list then depends on a literal, so the result must not be cached.
    pub table_from_literal: bool,
}

/// Parses `sql` (one statement, comments already removed). `None` unless it is a single read.
pub(crate) fn parse_read(sql: &str) -> Option<ParsedRead> {
    if sql.len() > MAX_PARSE_LEN {
        return None;
    }
    let dialect = MySqlDialect {};
    let statements = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .ok()?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    if !query_reads(query) {
        return None;
    }
    let mut tables: Vec<Box<str>> = Vec::new();
    let mut schemas: Vec<Box<str>> = Vec::new();
    let mut table_from_literal = false;
    let _ = visit_relations(&statements, |name| {
        table_from_literal |= name.0.iter().any(|p| {
            p.as_ident()
                .is_none_or(|i| matches!(i.quote_style, Some('"' | '\'')))
        });
        let mut parts = name.0.iter().rev().filter_map(|p| p.as_ident());
        if let Some(table) = parts.next() {
            add_name(&mut tables, table.value.to_ascii_lowercase().into());
        }
        if let Some(schema) = parts.next() {
            add_name(&mut schemas, schema.value.to_ascii_lowercase().into());
        }
        ControlFlow::<()>::Continue(())
    });
    let calls_stored_function = visit_expressions(&statements, |e| match e {
        Expr::Function(f) => {
            let built_in = f.name.0.len() == 1
                && f.name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.quote_style.is_none() && is_built_in(&i.value));
            if built_in {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break();
    Some(ParsedRead {
        tables,
        schemas,
        calls_stored_function,
        table_from_literal,
    })
}

/// True when a query, its CTEs included, only reads and takes no locks.
fn query_reads(q: &Query) -> bool {
    let ctes_read = q
        .with
        .as_ref()
        .is_none_or(|w| w.cte_tables.iter().all(|c| query_reads(&c.query)));
    q.locks.is_empty() && ctes_read && body_reads(&q.body)
}

/// True when a query body only reads (no data-modifying CTE body or set operand).
fn body_reads(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(s) => s.into.is_none(),
        SetExpr::Query(q) => query_reads(q),
        SetExpr::SetOperation { left, right, .. } => body_reads(left) && body_reads(right),
        SetExpr::Values(_) | SetExpr::Table(_) => true,
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => false,
    }
}
