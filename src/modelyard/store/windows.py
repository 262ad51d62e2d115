"""Persistence for live monitoring: closed window sketches per replica, and the monitor's
verdict per merged window.

Replicas only ever insert their own rows (key: endpoint, version, replica, window start), so
they never contend. A window flushed twice by one replica (a late request after the first
flush) is combined with the caller's ``merge`` function: sketches are opaque JSON here, the
monitoring layer knows how to merge them exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from modelyard.core.monitoring_records import StoredWindow, VersionUsage, WindowVerdict
from modelyard.store import schema as t
from modelyard.store.metadata import MetadataStore, Row, now

MergeFn = Callable[[str, str], str]  # (stored sketch JSON, new sketch JSON) -> merged JSON


class WindowStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # ---- closed windows (written by every replica) -----------------------------------------
    def put(self, windows: Iterable[Row], merge: MergeFn) -> int:
        """Insert closed windows (keys: endpoint, version_id, replica, start, end, requests,
        errors, cpu_s, sketch); a row already stored under the same key is merged."""
        w = t.monitor_windows
        count = 0
        with self.store.tx() as conn:
            for row in windows:
                key = and_(
                    w.c.endpoint == row["endpoint"],
                    w.c.version_id == row["version_id"],
                    w.c.replica == row["replica"],
                    w.c.start == row["start"],
                )
                old = conn.execute(
                    select(w.c.id, w.c.sketch, w.c.requests, w.c.errors, w.c.cpu_s).where(key)
                ).first()
                if old is None:
                    conn.execute(insert(w).values(created_at=now(), **row))
                else:
                    cpu = None
                    if old.cpu_s is not None or row.get("cpu_s") is not None:
                        cpu = (old.cpu_s or 0.0) + (row.get("cpu_s") or 0.0)
                    conn.execute(
                        update(w)
                        .where(w.c.id == old.id)
                        .values(
                            sketch=merge(old.sketch, row["sketch"]),
                            requests=old.requests + row["requests"],
                            errors=old.errors + row["errors"],
                            cpu_s=cpu,
                        )
                    )
                count += 1
        return count

    def windows(
        self,
        endpoint: str | None = None,
        version_id: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        with_sketch: bool = True,
    ) -> list[StoredWindow]:
        """Stored windows, oldest first (``since`` inclusive, ``until`` exclusive, on start)."""
        w = t.monitor_windows
        cols = list(w.c) if with_sketch else [c for c in w.c if c.name != "sketch"]
        q = select(*cols).order_by(w.c.start, w.c.endpoint, w.c.version_id, w.c.replica)
        if endpoint is not None:
            q = q.where(w.c.endpoint == endpoint)
        if version_id is not None:
            q = q.where(w.c.version_id == version_id)
        if since is not None:
            q = q.where(w.c.start >= since)
        if until is not None:
            q = q.where(w.c.start < until)
        with self.store.tx() as conn:
            return [StoredWindow.from_row(r) for r in conn.execute(q).mappings()]

    def usage(self, version_id: int) -> VersionUsage:
        """Traffic and inference CPU of a version over all its windows (for cost tracking)."""
        from sqlalchemy import func

        w = t.monitor_windows
        with self.store.tx() as conn:
            r = conn.execute(
                select(
                    func.coalesce(func.sum(w.c.requests), 0).label("requests"),
                    func.coalesce(func.sum(w.c.errors), 0).label("errors"),
                    func.sum(w.c.cpu_s).label("cpu_s"),
                    func.max(w.c.end).label("last_seen"),
                ).where(w.c.version_id == version_id)
            ).one()
        return VersionUsage.from_row(r._mapping)

    def prune(self, before: dt.datetime) -> int:
        """Drop windows that started before ``before`` (their verdicts stay)."""
        with self.store.tx() as conn:
            res = conn.execute(delete(t.monitor_windows).where(t.monitor_windows.c.start < before))
            return int(res.rowcount or 0)

    # ---- verdicts per merged window (written by the monitor) -------------------------------
    def put_result(
        self,
        endpoint: str,
        version_id: int,
        start: dt.datetime,
        end: dt.datetime,
        requests: int,
        summary: dict[str, Any],
    ) -> None:
        """Insert or replace the verdict of one merged window (late rows re-judge it)."""
        r = t.monitor_results
        at = now()
        with self.store.tx() as conn:
            key = and_(r.c.endpoint == endpoint, r.c.version_id == version_id, r.c.start == start)
            found = conn.execute(select(r.c.id).where(key)).first()
            if found is None:
                conn.execute(
                    insert(r).values(
                        endpoint=endpoint,
                        version_id=version_id,
                        start=start,
                        end=end,
                        requests=requests,
                        summary=summary,
                        created_at=at,
                        updated_at=at,
                    )
                )
            else:
                conn.execute(
                    update(r)
                    .where(r.c.id == found.id)
                    .values(end=end, requests=requests, summary=summary, updated_at=at)
                )

    def results(
        self,
        endpoint: str | None = None,
        version_id: int | None = None,
        since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[WindowVerdict]:
        """Verdicts, oldest first (with ``limit``: the newest ``limit`` of them)."""
        r = t.monitor_results
        q = select(r)
        if endpoint is not None:
            q = q.where(r.c.endpoint == endpoint)
        if version_id is not None:
            q = q.where(r.c.version_id == version_id)
        if since is not None:
            q = q.where(r.c.start >= since)
        if limit is not None:
            q = q.order_by(r.c.start.desc(), r.c.id.desc()).limit(limit)
        else:
            q = q.order_by(r.c.start, r.c.id)
        with self.store.tx() as conn:
            rows = [WindowVerdict.from_row(x) for x in conn.execute(q).mappings()]
        if limit is not None:
            rows.reverse()
        return rows

    def judged_endpoints(self) -> list[str]:
        """Endpoints with at least one verdict, sorted."""
        r = t.monitor_results
        with self.store.tx() as conn:
            return sorted(conn.execute(select(r.c.endpoint).distinct()).scalars())
