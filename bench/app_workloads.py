#!/usr/bin/env python3
"""Benchmark helper, not a test: the app-like workloads that sysbench does not cover, run by
THREADS threads against one port, printing the wall time and the stale reads.

  states: each thread has its own session state (sql_mode, time_zone, isolation level,
          schema), so no two sessions fit the same pooled connection; each iteration writes
          a row and reads it back at once (a stale read is one that does not find it).
  ddl:    what test suites and migrations do: each iteration creates a table, fills it,
          reads it, alters it, reads it again and drops it, every read right after the DDL.
  pooled: what a web app on a connection pool in autocommit mode sends per request
          (SQLAlchemy's pool with isolation_level="AUTOCOMMIT", for one): each iteration
          reads a row by its key and checks the connection in again, which rolls back
          (`reset_on_return`) with nothing to roll back.

    bench/app_workloads.py --port 6033 --workload states --threads 12 --iterations 200

Needs the mysqlclient driver (examples/django's venv has it)."""
import argparse
import time

import MySQLdb

from timed_threads import run_and_report

MODES = ["STRICT_TRANS_TABLES", "ANSI_QUOTES", "NO_ZERO_DATE", "ONLY_FULL_GROUP_BY",
         "PIPES_AS_CONCAT", "REAL_AS_FLOAT", "IGNORE_SPACE", "NO_BACKSLASH_ESCAPES"]
ZONES = ["+00:00", "+01:00", "+02:00", "-05:00", "+05:30", "+09:00"]
LEVELS = ["READ COMMITTED", "REPEATABLE READ"]
# Rows of this run only (runs against direct and each proxy share the table).
RUN = int(time.time() * 1000) % 2_000_000_000


def connect(args, schema):
    return MySQLdb.connect(host="127.0.0.1", port=args.port, user="app", password="app",
                           database=schema, autocommit=True)


def states(args, i, stale):
    conn = connect(args, "app" if i % 2 == 0 else "bench_b")
    cur = conn.cursor()
    cur.execute(f"SET SESSION sql_mode = '{MODES[i % len(MODES)]}'")
    cur.execute(f"SET SESSION time_zone = '{ZONES[i % len(ZONES)]}'")
    cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {LEVELS[i % len(LEVELS)]}")
    for n in range(args.iterations):
        cur.execute("INSERT INTO bench_states (run, thread, n) VALUES (%s, %s, %s)", (RUN, i, n))
        cur.execute("SELECT COUNT(*) FROM bench_states WHERE run = %s AND thread = %s AND n = %s",
                    (RUN, i, n))
        if cur.fetchone()[0] != 1:
            stale[i] += 1
    conn.close()


def ddl(args, i, stale):
    conn = connect(args, "app")
    cur = conn.cursor()
    for n in range(args.iterations):
        t = f"bench_ddl_{i}_{n}"
        cur.execute(f"CREATE TABLE {t} (id INT PRIMARY KEY, a INT)")
        cur.execute(f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
        cur.execute(f"SELECT COUNT(*) FROM {t}")
        if cur.fetchone()[0] != 2:
            stale[i] += 1
        cur.execute(f"ALTER TABLE {t} ADD COLUMN b INT DEFAULT 7")
        cur.execute(f"SELECT b FROM {t} WHERE id = 1")
        if cur.fetchone()[0] != 7:
            stale[i] += 1
        cur.execute(f"DROP TABLE {t}")
    conn.close()


def pooled(args, i, stale):
    conn = connect(args, "app")
    cur = conn.cursor()
    for n in range(args.iterations):
        cur.execute("SELECT n FROM bench_states WHERE id = %s", (1 + (i * 7919 + n) % 1000,))
        if cur.fetchone() is None:
            stale[i] += 1
        conn.rollback()
    conn.close()


def prepare(args):
    conn = connect(args, "app")
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS bench_b")
    for schema in ["app", "bench_b"]:
        cur.execute(f"DROP TABLE IF EXISTS {schema}.bench_states")
        cur.execute(f"CREATE TABLE {schema}.bench_states (id INT AUTO_INCREMENT PRIMARY KEY, "
                    "run INT, thread INT, n INT, KEY (run, thread, n))")
    # The rows `pooled` reads (ids 1 to 1000).
    cur.execute("INSERT INTO app.bench_states (run, thread, n) SELECT 0, 0, seq "
                "FROM seq_1_to_1000")
    conn.close()


WORKLOADS = {"states": states, "ddl": ddl, "pooled": pooled}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workload", choices=list(WORKLOADS), required=True)
    p.add_argument("--threads", type=int, default=12)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--prepare", action="store_true", help="create the tables, then exit")
    args = p.parse_args()
    if args.prepare:
        prepare(args)
        return
    work = WORKLOADS[args.workload]
    run_and_report(args.threads, lambda i, stale: work(args, i, stale))


if __name__ == "__main__":
    main()
