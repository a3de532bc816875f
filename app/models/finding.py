"""What the registry keeps about findings. Findings themselves are derived, never stored by hand;
only a director's risk acceptance and the daily counts (for the trend) are kept."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class FindingAcceptance(Base):
    """A director accepted the risk of one finding, with a reason, until a date. The finding
    still shows, marked accepted, and comes back when the acceptance expires."""

    __tablename__ = "finding_acceptances"
    __table_args__ = (
        sa.UniqueConstraint("rule_id", "subject_type", "subject_id"),
        # A page's findings look up their acceptances by subject.
        sa.Index("ix_finding_acceptances_subject_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable rule id from app.services.findings.RULES (e.g. "owner-personal").
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    #: What the finding is about: "account" or "credential".
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    accepted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    accepted_by_name: Mapped[str] = mapped_column(sa.String(254))
    reason: Mapped[str] = mapped_column(sa.Text)
    expires_on: Mapped[date] = mapped_column(sa.Date, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FindingSnapshot(Base):
    """Open findings counted once a day, for the dashboard's trend."""

    __tablename__ = "finding_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_on: Mapped[date] = mapped_column(sa.Date, unique=True)
    total: Mapped[int] = mapped_column(default=0)
    #: {"critical": 3, "high": 5, ...} — open (not accepted) findings by severity.
    by_severity: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: {"owner-personal": 4, ...}
    by_rule: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: {"<department id or 'none'>": 7, ...}
    by_department: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


#: Sorted byte-wise on every backend, so a page of findings is the same on SQLite and PostgreSQL.
SortName = sa.String(254).with_variant(sa.String(254, collation="C"), "postgresql")


class IndexedFinding(Base):
    """One current finding, kept so lists can filter, count and page in SQL.

    The findings are still derived (``app.services.findings.evaluate``); this is their index,
    refreshed in the same transaction as every change that can raise or clear one. It holds only
    what filters and sorting need: the sentence and names are evaluated for the rows shown.
    """

    __tablename__ = "finding_index"
    __table_args__ = (
        sa.UniqueConstraint("rule_id", "subject_type", "subject_id"),
        # The list's order; whether a finding is accepted is read from the index too, so a late
        # page of the open findings skips the rows before it in the index alone (the last of
        # 16,875 pages at 421,872 findings: 371 ms reading each row to see; 28 ms).
        sa.Index("ix_finding_index_order", "severity_rank", "sort_name", "rule_id", "subject_id", "accepted"),
        # One rule's findings in the list's order (the dashboard's single points, a rule filter).
        sa.Index("ix_finding_index_rule_order", "rule_id", "severity_rank", "sort_name", "subject_id", "accepted"),
        # An account's findings, and its risk score read from this index alone.
        sa.Index("ix_finding_index_account", "account_id", "accepted", "severity_rank"),
        # The accepted findings in the list's order: the few among all (without it, listing them
        # read the whole index: 687 ms at 421,872 findings, none accepted).
        sa.Index(
            "ix_finding_index_accepted_order",
            "severity_rank",
            "sort_name",
            "rule_id",
            "subject_id",
            sqlite_where=sa.text("accepted IS 1"),
            postgresql_where=sa.text("accepted IS true"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    severity_rank: Mapped[int] = mapped_column(sa.SmallInteger)
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    #: None for a credential note on a persona or shared-login profile.
    account_id: Mapped[int | None] = mapped_column()
    #: Only its own index: one in the list's order too (a platform's 28,000 findings at 200,000
    #: accounts listed 16 ms sooner, counted 12 ms sooner) took 0.4 s more of every rebuild.
    platform_id: Mapped[int] = mapped_column(index=True)
    department_id: Mapped[int | None] = mapped_column(index=True)
    steward_id: Mapped[int | None] = mapped_column(index=True)
    #: The account's (or profile's) name in lower case: the list's order.
    sort_name: Mapped[str] = mapped_column(SortName)
    #: Accepted as a risk (an acceptance that has not expired) when the index was refreshed.
    accepted: Mapped[bool] = mapped_column(default=False)


class IndexedFindingPerson(Base):
    """The people a finding's rule names (the leaver, the holder, the recovery contact): with the
    finding's ``steward_id``, what the person filter matches."""

    __tablename__ = "finding_index_people"
    __table_args__ = (sa.Index("ix_finding_index_people_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    account_id: Mapped[int | None] = mapped_column(index=True)


class MustRotateNote(Base):
    """A credential note that must rotate (``credentials.state_of``: someone who revealed its
    current value, or keeps the profile it belongs to, is leaving or has left), kept with the
    finding index for the rotation queue, which reads it in due order. Unlike the index's
    credential-leaver findings it holds the notes of retired accounts too: a retired account may
    still open with the value a leaver knows."""

    __tablename__ = "must_rotate_notes"
    __table_args__ = (sa.Index("ix_must_rotate_notes_due", "due_at", "note_id"),)

    note_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: The note's account (None for a note on a profile): a change to the account refreshes its notes.
    account_id: Mapped[int | None] = mapped_column(index=True)
    due_at: Mapped[datetime] = mapped_column()


class FindingCount(Base):
    """Indexed findings counted by rule, department and acceptance: the organisation's summary
    in a few dozen rows, kept exact by each refresh."""

    __tablename__ = "finding_counts"
    __table_args__ = (
        sa.UniqueConstraint("rule_id", "department_key", "accepted"),
        # The summary's two sums read in index order, the counts included, without a sort: by rule,
        # and by department of the open findings (2,578 rows at 300 departments).
        sa.Index("ix_finding_counts_rule_sum", "rule_id", "accepted", "n"),
        sa.Index("ix_finding_counts_department_sum", "accepted", "department_key", "n"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    #: The department's id, 0 for none.
    department_key: Mapped[int] = mapped_column()
    accepted: Mapped[bool] = mapped_column()
    n: Mapped[int] = mapped_column(default=0)


class FindingPlatformCount(Base):
    """Indexed findings counted by platform, rule and acceptance, kept exact with FindingCount by
    each refresh: one platform's summary in a few rows (counting a platform's 28,000 findings at
    200,000 accounts took 26 ms), and how many there are to read its list the cheaper way."""

    __tablename__ = "finding_platform_counts"
    __table_args__ = (sa.UniqueConstraint("platform_id", "rule_id", "accepted"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column()
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    accepted: Mapped[bool] = mapped_column()
    n: Mapped[int] = mapped_column(default=0)


class AccountRiskScore(Base):
    """Each account's weighted count of open findings, for the dashboard's greatest risks."""

    __tablename__ = "account_risk_scores"
    __table_args__ = (sa.Index("ix_account_risk_scores_rank", "score", "critical"),)

    account_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    score: Mapped[int] = mapped_column()
    critical: Mapped[int] = mapped_column()


class FindingIndexState(Base):
    """Which day the index is current for, and for which review interval: rules that depend on
    the date (overdue, not reviewed, expired acceptances) are current for that day only. A new
    day rebuilds it in full, or catches it up with what the date alone changed."""

    __tablename__ = "finding_index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_on: Mapped[date] = mapped_column(sa.Date)
    review_interval_days: Mapped[int] = mapped_column()
    accounts_with_findings: Mapped[int] = mapped_column(default=0)
    #: The moment the date's rules were last evaluated at (the rebuild, or the last catch-up):
    #: notes that came due and reviews that lapsed after it are what the next day catches up.
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)
