"""Projects: the named portfolios every snapshot, run and order belongs to."""

from __future__ import annotations

from typing import cast

from sqlalchemy import String, select
from sqlalchemy.orm import Session

from services.db.models import Project
from services.db.repositories.base import RepositoryError, get_row, insert_once


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, description: str | None = None) -> Project:
        project = Project(name=name, description=description)
        self.session.add(project)
        self.session.flush()
        return project

    def get(self, project_id: int) -> Project:
        return get_row(self.session, Project, project_id)

    def get_by_name(self, name: str) -> Project | None:
        return self.session.scalars(select(Project).where(Project.name == name)).one_or_none()

    def get_or_create(self, name: str, description: str | None = None) -> Project:
        # The same limit on both databases (SQLite would store a name MariaDB refuses).
        limit = cast(String, Project.__table__.c.name.type).length
        assert limit is not None  # String(n) in models.py
        if not name or not name.strip():
            raise RepositoryError("the project name is empty")
        if len(name) > limit:
            raise RepositoryError(f"the project name has {len(name)} characters; at most {limit} can be stored")
        project, _ = insert_once(self.session, Project, {"name": name, "description": description}, ("name",), read_first=True)
        return project

    def list(self) -> list[Project]:
        return list(self.session.scalars(select(Project).order_by(Project.name)))
