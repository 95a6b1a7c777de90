"""One controller per campaign: a lease row with an expiry, renewed by heartbeats.

A row in the database (not a lock file) so that it also holds between machines sharing PostgreSQL.
Acquiring is a single conditional UPDATE (take the row if it is ours or expired) falling back to an
INSERT that the primary key makes exclusive; both are atomic on SQLite and PostgreSQL alike. Expiry
uses each controller's UTC clock, so hosts sharing a database need roughly synchronized clocks (NTP).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from evolve.lineage.db import Database
from evolve.lineage.models import Lease, utcnow
from scoring.errors import InputError

DEFAULT_TTL_S = 60.0


@dataclass(frozen=True)
class LeaseInfo:
    campaign_id: int
    owner: str
    host: str
    pid: int
    expires_at: datetime


class LeaseHeld(InputError):
    """Another live controller runs this campaign: refused, with who and until when."""


class LeaseLost(Exception):
    """Our lease expired and another controller took the campaign: stop writing at once."""


def new_owner() -> str:
    return uuid.uuid4().hex


def current_lease(db: Database, campaign_id: int) -> LeaseInfo | None:
    with db.session() as s:
        row = s.get(Lease, campaign_id)
        if row is None:
            return None
        return LeaseInfo(row.campaign_id, row.owner, row.host, row.pid, row.expires_at)


def acquire_lease(
    db: Database, campaign_id: int, owner: str, ttl_s: float = DEFAULT_TTL_S, now: datetime | None = None
) -> LeaseInfo:
    """Take the campaign for `owner`, or raise LeaseHeld if a live lease belongs to someone else."""
    now = now or utcnow()
    values = {
        "owner": owner,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": now,
        "heartbeat_at": now,
        "expires_at": now + timedelta(seconds=ttl_s),
    }
    with db.session() as s, s.begin():
        took = s.execute(
            sa.update(Lease)
            .where(Lease.campaign_id == campaign_id, sa.or_(Lease.owner == owner, Lease.expires_at < now))
            .values(**values)
        ).rowcount
    if not took:
        try:
            with db.session() as s, s.begin():
                s.execute(sa.insert(Lease).values(campaign_id=campaign_id, **values))
        except sa.exc.IntegrityError:
            held = current_lease(db, campaign_id)
            who = f"pid {held.pid} on {held.host}" if held else "another controller"
            until = f" until {held.expires_at:%Y-%m-%d %H:%M:%S} UTC" if held else ""
            raise LeaseHeld(
                f"campaign is already being run by {who} (lease{until}); "
                "stop that controller or wait for its lease to expire"
            ) from None
    return LeaseInfo(campaign_id, owner, values["host"], values["pid"], values["expires_at"])


def renew_lease(
    db: Database, campaign_id: int, owner: str, ttl_s: float = DEFAULT_TTL_S, now: datetime | None = None
) -> LeaseInfo:
    """Heartbeat. Renewing is allowed only while the row is still ours; otherwise LeaseLost."""
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl_s)
    with db.session() as s, s.begin():
        n = s.execute(
            sa.update(Lease)
            .where(Lease.campaign_id == campaign_id, Lease.owner == owner)
            .values(heartbeat_at=now, expires_at=expires)
        ).rowcount
    if n != 1:
        raise LeaseLost(f"lease on campaign {campaign_id} is no longer held by {owner}")
    return LeaseInfo(campaign_id, owner, socket.gethostname(), os.getpid(), expires)


def controller_gone(lease: LeaseInfo | None, now: datetime | None = None) -> bool:
    """Whether the controller a running campaign's lease names is gone: no lease at all (a controller
    gives it up only after recording how the campaign ended), a lease past its expiry (a live controller
    renews it every few seconds), or one taken on this host by a process that no longer exists. A lease
    from another host that has not expired counts as alive: only its expiry can tell. (A reused pid keeps
    a dead controller looking alive until its lease expires.)"""
    if lease is None or lease.expires_at < (now or utcnow()):
        return True
    return lease.host == socket.gethostname() and not _process_exists(lease.pid)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: gone all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): the signal's answer stands
        return True


def release_lease(db: Database, campaign_id: int, owner: str) -> bool:
    """Give the campaign up (clean shutdown). True if we held it."""
    with db.session() as s, s.begin():
        return s.execute(sa.delete(Lease).where(Lease.campaign_id == campaign_id, Lease.owner == owner)).rowcount == 1
