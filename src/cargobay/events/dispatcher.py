"""One in-process dispatcher. Events are emitted after the change is committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

logger = logging.getLogger("cargobay.events")


class EventType(StrEnum):
    BLOB_PUSHED = "blob.pushed"
    BLOB_MOUNTED = "blob.mounted"
    BLOB_PULLED = "blob.pulled"
    BLOB_DELETED = "blob.deleted"
    MANIFEST_PUSHED = "manifest.pushed"
    MANIFEST_PULLED = "manifest.pulled"
    MANIFEST_DELETED = "manifest.deleted"
    MANIFEST_RESTORED = "manifest.restored"  # a deleted manifest brought back by a restore
    TAG_CREATED = "tag.created"
    TAG_MOVED = "tag.moved"
    TAG_DELETED = "tag.deleted"
    REPOSITORY_DELETED = "repository.deleted"
    REPOSITORY_UPDATED = "repository.updated"  # its settings (floating tags)
    ARTIFACT_PROMOTED = "artifact.promoted"  # `subject` names the source, repository@digest
    # Garbage collection finished a run: `size` is the bytes it reclaimed, `subject` the run.
    GC_FINISHED = "gc.finished"
    LABEL_ADDED = "label.added"  # also when a label's value changes
    LABEL_REMOVED = "label.removed"
    QUOTA_CHANGED = "project.quota_changed"  # `project`; `size` is the new quota (None: none)
    # Accounts and projects (the management API); `subject` names what changed.
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    PROJECT_CREATED = "project.created"
    PROJECT_UPDATED = "project.updated"
    PROJECT_DELETED = "project.deleted"
    MEMBER_ADDED = "member.added"
    MEMBER_UPDATED = "member.updated"
    MEMBER_REMOVED = "member.removed"
    ROBOT_CREATED = "robot.created"
    ROBOT_UPDATED = "robot.updated"
    ROBOT_REVOKED = "robot.revoked"
    ROBOT_DELETED = "robot.deleted"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_DELETED = "token.deleted"
    # Lifecycle rules of a project; `subject` is the rule's id.
    IMMUTABILITY_RULE_CREATED = "immutability_rule.created"
    IMMUTABILITY_RULE_UPDATED = "immutability_rule.updated"
    IMMUTABILITY_RULE_DELETED = "immutability_rule.deleted"
    # Retention (`project` and `subject`, the policy's name, are set).
    RETENTION_POLICY_CREATED = "retention_policy.created"
    RETENTION_POLICY_UPDATED = "retention_policy.updated"
    RETENTION_POLICY_DELETED = "retention_policy.deleted"
    RETENTION_RUN_FINISHED = "retention.run_finished"  # `operation`: "run" or "dry_run"


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    repository: str = ""  # "" for events that concern no repository (accounts, projects)
    digest: str | None = None
    tag: str | None = None
    previous_digest: str | None = None  # tag.moved: where the tag pointed before
    operation: str | None = None  # tag events: push, delete, rollback, promotion... (history)
    media_type: str | None = None
    size: int | None = None
    actor: str | None = None  # who made the change (`alice`, `robot:team+ci`), if known
    project: str | None = None
    subject: str | None = None  # the user, member, robot or token the event is about
    label: str | None = None  # label events: `key=value` (removed: the value it had)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


Subscriber = Callable[[Event], None]


class Dispatcher:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; return a function that removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def emit(self, event: Event) -> None:
        # A failing subscriber must not fail the request whose change is already committed.
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                logger.exception("event subscriber failed", extra={"event": event.type})

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)
