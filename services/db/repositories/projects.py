"""Projects: the named portfolios every snapshot, run and order belongs to."""

from __future__ import annotations

from typing import cast

from sqlalchemy import String, exists, or_, select
from sqlalchemy.orm import Session

from services.core.snapshots import project_name
from services.db.models import DecisionSnapshot, Position, Project, TradeRun
from services.db.repositories.base import RepositoryError, get_row, insert_once
from services.db.repositories.snapshots import decisions_only
from services.db.scope import not_backtest
from services.domain import TradeMode


def traded_or_imported():
    """A project the trader knows: it has an imported snapshot, a paper or live run, a position
    in a real account, or a capital the trader set. A project a backtest made for its inputs
    alone (a snapshot file's project name) is none of these, and stays out of the trader's lists
    (a backtest's records are never mixed with paper or live ones) until a snapshot of it is
    imported or it is traded."""
    return or_(
        Project.capital.is_not(None),
        exists().where(DecisionSnapshot.project_id == Project.id, decisions_only(DecisionSnapshot.note)),
        exists().where(TradeRun.project_id == Project.id, TradeRun.mode != TradeMode.BACKTEST),
        exists().where(Position.project_id == Project.id, not_backtest(Position.account)),
    )


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # every name is read by services.core.snapshots.project_name here, the one entry point of
    # every caller (snapshot import, the window, preview --save, execute, backtests, tickets)
    def create(self, name: str, description: str | None = None) -> Project:
        project = Project(name=project_name(name), description=description)
        self.session.add(project)
        self.session.flush()
        return project

    def get(self, project_id: int) -> Project:
        return get_row(self.session, Project, project_id)

    def get_by_name(self, name: str) -> Project | None:
        return self.session.scalars(select(Project).where(Project.name == project_name(name))).one_or_none()

    def get_or_create(self, name: str, description: str | None = None) -> Project:
        # The same limit on both databases (SQLite would store a name MariaDB refuses).
        limit = cast(String, Project.__table__.c.name.type).length
        assert limit is not None  # String(n) in models.py
        name = project_name(name or "")
        if not name:
            raise RepositoryError("the project name is empty")
        if len(name) > limit:
            raise RepositoryError(f"the project name has {len(name)} characters; at most {limit} can be stored")
        project, _ = insert_once(self.session, Project, {"name": name, "description": description}, ("name",), read_first=True)
        return project

    def list(self, *, with_backtest_only: bool = True) -> list[Project]:
        """Every project by name; ``with_backtest_only`` False: the trader's (``traded_or_imported``)."""
        query = select(Project).order_by(Project.name)
        if not with_backtest_only:
            query = query.where(traded_or_imported())
        return list(self.session.scalars(query))
