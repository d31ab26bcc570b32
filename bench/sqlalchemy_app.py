#!/usr/bin/env python3
"""Benchmark helper, not a test: a small SQLAlchemy ORM app (one model, a pooled engine) run
by THREADS threads against one port, printing the wall time and the stale reads.

Each request checks a session out of the engine's pool and in again (which rolls back); one
request in five updates an item and commits, then reads it back in a new session, the others
read an item by its key (a stale read is one that does not see the thread's last update). The engine runs in SQLAlchemy's default mode
(autocommit off: every request is a transaction) or, with --autocommit, with
isolation_level="AUTOCOMMIT".

    bench/sqlalchemy_app.py --port 6033 --threads 4 --requests 1000 [--autocommit]

Needs SQLAlchemy and mysqlclient (bench/sqlalchemy_app.sh installs SQLAlchemy in
examples/django's venv)."""
import argparse

from sqlalchemy import Integer, String, create_engine, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from timed_threads import run_and_report

ITEMS = 1000


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_sa_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=0)


def engine_for(args):
    options = {"isolation_level": "AUTOCOMMIT"} if args.autocommit else {}
    return create_engine(f"mysql+mysqldb://app:app@127.0.0.1:{args.port}/app",
                         pool_size=args.threads, max_overflow=0, **options)


def worker(engine, args, i, stale):
    # Each thread owns a slice of the items, so it knows what the next read must see.
    share = ITEMS // args.threads
    versions = {}
    for n in range(args.requests):
        key = 1 + i * share + (n * 7919) % share
        if n % 5 == 0:
            with Session(engine) as s:
                s.execute(update(Item).where(Item.id == key).values(version=Item.version + 1))
                s.commit()
            versions[key] = versions.get(key, 0) + 1
            with Session(engine) as s:
                if s.scalar(select(Item.version).where(Item.id == key)) != versions[key]:
                    stale[i] += 1
        else:
            with Session(engine) as s:
                item = s.get(Item, key)
                if item is None or item.version != versions.get(key, 0):
                    stale[i] += 1


def prepare(args):
    engine = engine_for(args)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all(Item(id=k, name=f"item {k}", version=0) for k in range(1, ITEMS + 1))
        s.commit()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--autocommit", action="store_true")
    p.add_argument("--prepare", action="store_true", help="create the table, then exit")
    args = p.parse_args()
    if args.prepare:
        prepare(args)
        return
    engine = engine_for(args)
    run_and_report(args.threads, lambda i, stale: worker(engine, args, i, stale))
    engine.dispose()


if __name__ == "__main__":
    main()
