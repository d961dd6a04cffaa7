"""Retention policies and their runs: on demand or on the policy's cron schedule, always as
a job of kind `retention.run` (a dry run is answered at once and logged as a finished job).

A run plans each repository (`retention.evaluate`) and, unless dry, deletes what the plan
says through the metadata store's ordinary deletes, as `retention:<policy name>` with the
operation `retention`: history records every tag, manifests are only marked deleted (and
restorable for the history window), and the usual tag and manifest events are emitted. The
deletes compare and set: a tag that moved since the plan, or a manifest tagged meanwhile,
is kept. A delete the store refuses (an immutable tag) keeps the tag, reported so, and the
repository's manifests are planned again with that tag kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cargobay.auth.principal import DEFAULT_PROJECT
from cargobay.events import Event, EventType
from cargobay.jobs import JobFailed, JobRecord, Jobs, cron
from cargobay.lifecycle.retention import (
    DEFAULT_STAGES,
    DELETE,
    KEEP,
    Context,
    Decision,
    ManifestInfo,
    Plan,
    RepositorySnapshot,
    Rules,
    RulesInvalid,
    TagInfo,
    check_glob,
    evaluate,
    repository_selected,
    with_forced,
)
from cargobay.metadata.errors import TagImmutable
from cargobay.metadata.history import Operation
from cargobay.metadata.models import utcnow
from cargobay.metadata.retention_store import (
    RUN_KIND,
    PolicyRecord,
    PolicyValues,
    RepositoryContents,
    RetentionStore,
    schedule_name,
)
from cargobay.registry.service import RegistryService

logger = logging.getLogger("cargobay.retention")


class PolicyNotFound(LookupError):
    def __init__(self, project: str, policy_id: int) -> None:
        super().__init__(f"project {project} has no retention policy {policy_id}")


def actor_of(policy: PolicyRecord) -> str:
    return f"retention:{policy.name}"


def checked(values: PolicyValues) -> PolicyValues:
    """The values with their rules normalised; RulesInvalid (naming the field) if bad."""
    check_glob(values.repository, "repository")
    if values.schedule is not None:
        try:
            cron.check(values.schedule)
        except cron.CronInvalid as exc:
            raise RulesInvalid("schedule", str(exc)) from None
    return replace(values, rules=Rules.from_json(values.rules).to_json())


def _next_run(expression: str) -> datetime:
    return cron.next_run(expression, utcnow())


class RetentionService:
    def __init__(self, registry: RegistryService, store: RetentionStore, jobs: Jobs) -> None:
        self.registry = registry
        self.store = store
        self.jobs = jobs
        self.db = registry.db

    def register(self) -> None:
        """Let this node's worker run retention jobs."""
        self.jobs.worker.register(RUN_KIND, self.handle)

    def _emit(self, type_: EventType, policy: PolicyRecord, **fields: Any) -> None:
        events = self.registry.events
        if events.has_subscribers:
            events.emit(Event(type_, project=policy.project, subject=policy.name, **fields))

    # -- policies --------------------------------------------------------------------------

    async def list(self, project: str, limit: int, after: int | None) -> list[PolicyRecord]:
        return await self.db.read(self.store.list, project, limit, after)

    async def get(self, project: str, policy_id: int) -> PolicyRecord:
        policy = await self.db.read(self.store.get, policy_id)
        if policy is None or policy.project != project:
            raise PolicyNotFound(project, policy_id)
        return policy

    async def create(self, project: str, values: PolicyValues, actor: str) -> PolicyRecord:
        values = checked(values)
        policy = await self.db.write(self.store.create, project, values, actor, _next_run)
        if policy is None:
            raise PolicyNotFound(project, 0)
        self._emit(EventType.RETENTION_POLICY_CREATED, policy, actor=actor)
        return policy

    async def update(
        self, project: str, policy_id: int, values: PolicyValues, actor: str
    ) -> PolicyRecord:
        values = checked(values)
        await self.get(project, policy_id)
        policy = await self.db.write(self.store.update, policy_id, values, _next_run)
        if policy is None:
            raise PolicyNotFound(project, policy_id)
        self._emit(EventType.RETENTION_POLICY_UPDATED, policy, actor=actor)
        return policy

    async def delete(self, project: str, policy_id: int, actor: str) -> None:
        policy = await self.get(project, policy_id)
        if not await self.db.write(self.store.delete, policy_id):
            raise PolicyNotFound(project, policy_id)
        self._emit(EventType.RETENTION_POLICY_DELETED, policy, actor=actor)

    async def next_run(self, policy: PolicyRecord) -> datetime | None:
        """When the policy's schedule runs it next; None if it runs on demand only."""
        schedule = await self.jobs.scheduler.get(schedule_name(policy.id))
        return schedule.next_run_at if schedule else None

    # -- runs ------------------------------------------------------------------------------

    async def start_run(self, project: str, policy_id: int, requested_by: str) -> JobRecord:
        """Queue a real run; the job's result is the run's report."""
        await self.get(project, policy_id)
        job_id = await self.jobs.queue.enqueue(
            RUN_KIND,
            {"policy_id": policy_id},
            target=schedule_name(policy_id),
            created_by=requested_by,
        )
        job = await self.jobs.queue.get(job_id)
        assert job is not None
        return job

    async def dry_run(self, project: str, policy_id: int, requested_by: str) -> JobRecord:
        """Plan without deleting, answered at once and logged as a finished job."""
        policy = await self.get(project, policy_id)
        result = await self.run(policy, dry_run=True)
        job_id = await self.db.write(
            self.jobs.queue.store.record_finished,
            RUN_KIND,
            {"policy_id": policy_id, "dry_run": True},
            result,
            self.jobs.worker.node,
            target=schedule_name(policy_id),
            created_by=requested_by,
        )
        job = await self.jobs.queue.get(job_id)
        assert job is not None
        return job

    async def runs(
        self, project: str, policy_id: int, limit: int, before: int | None
    ) -> list[JobRecord]:
        await self.get(project, policy_id)
        return await self.jobs.queue.list(
            limit, before, kind=RUN_KIND, target=schedule_name(policy_id)
        )

    async def handle(self, job: JobRecord) -> dict[str, Any]:
        """The worker's handler of `retention.run` jobs (on demand and scheduled)."""
        policy_id = job.payload.get("policy_id")
        policy = await self.db.read(self.store.get, policy_id) if policy_id else None
        if policy is None:
            await self.jobs.scheduler.remove(schedule_name(policy_id or 0))
            raise JobFailed(f"retention policy {policy_id} no longer exists")
        scheduled = job.created_by is None
        if scheduled and not policy.enabled:
            return {"skipped": "the policy is disabled"}
        return await self.run(policy, dry_run=bool(job.payload.get("dry_run")))

    async def run(self, policy: PolicyRecord, dry_run: bool) -> dict[str, Any]:
        """Plan (and unless `dry_run`, apply) a policy over its project; return the report."""
        started = utcnow()
        rules = Rules.from_json(policy.rules)
        stages = await self.db.read(self.store.project_stages, policy.project)
        context = Context(started, frozenset(stages or DEFAULT_STAGES))
        plan = Plan()
        repositories = 0
        for name, relative in await self._repositories(policy, rules):
            # A whole repository is read and decided in a thread, even on SQLite (whose
            # reads `Runner` keeps on the event loop): 10,000 tags take about a second.
            contents = await asyncio.to_thread(self.store.contents, name)
            if contents is None:
                continue  # deleted meanwhile
            snapshot = _snapshot(name, relative, contents)
            repository_plan = await asyncio.to_thread(evaluate, rules, snapshot, context)
            if not dry_run:
                repository_plan = await self._apply(
                    policy, rules, snapshot, context, repository_plan
                )
            plan.extend(repository_plan)
            repositories += 1
        report = {
            "policy": {"id": policy.id, "name": policy.name},
            "project": policy.project,
            "dry_run": dry_run,
            "started_at": started.isoformat(),
            "finished_at": utcnow().isoformat(),
            "repositories": repositories,
            **plan.to_json(),
        }
        self._emit(
            EventType.RETENTION_RUN_FINISHED,
            policy,
            operation="dry_run" if dry_run else "run",
            actor=actor_of(policy),
        )
        summary = report["summary"]
        logger.info(
            "retention policy %s of %s%s: %d tags and %d manifests deleted",
            policy.name,
            policy.project,
            " (dry run)" if dry_run else "",
            summary["tags_deleted"],
            summary["manifests_deleted"],
        )
        return report

    async def _repositories(self, policy: PolicyRecord, rules: Rules) -> list[tuple[str, str]]:
        unnamespaced = policy.project == DEFAULT_PROJECT  # `busybox` is in `library`
        names = await self.db.read(self.store.project_repositories, policy.project, unnamespaced)
        found = []
        for name in names:
            relative = name.removeprefix(f"{policy.project}/")
            if repository_selected(policy.repository, rules, relative):
                found.append((name, relative))
        return found

    async def _apply(
        self,
        policy: PolicyRecord,
        rules: Rules,
        snapshot: RepositorySnapshot,
        context: Context,
        plan: Plan,
    ) -> Plan:
        refused = await self._delete_tags(policy, snapshot.name, plan.tags)
        if refused:
            kept_tags = [
                replace(d, action=KEEP, rule=refused[d.tag][0], reason=refused[d.tag][1])
                if d.tag in refused
                else d
                for d in plan.tags
            ]
            forced = with_forced(context, refused)
            manifests = (await asyncio.to_thread(evaluate, rules, snapshot, forced)).manifests
            plan = Plan(kept_tags, manifests)
        manifests = await self._delete_manifests(policy, snapshot.name, plan.manifests)
        return Plan(plan.tags, manifests)

    async def _delete_tags(
        self, policy: PolicyRecord, name: str, decisions: Sequence[Decision]
    ) -> dict[str, tuple[str, str]]:
        """Delete the tags the plan deletes; return those kept after all, with why."""
        refused: dict[str, tuple[str, str]] = {}
        actor = actor_of(policy)
        metadata = self.registry.metadata
        for decision in decisions:
            if decision.action != DELETE or decision.tag is None:
                continue
            try:
                digest = await self.db.write(
                    metadata.delete_tag,
                    name,
                    decision.tag,
                    actor,
                    Operation.RETENTION,
                    expected_digest=decision.digest,
                )
            except TagImmutable as exc:
                # A rule made since the plan protects it: the tag stays, and so does its
                # manifest; the run goes on.
                refused[decision.tag] = ("immutable", f"immutable ({exc.rule})")
                continue
            if digest is None:
                refused[decision.tag] = ("changed", "the tag moved or went during the run")
                continue
            self.registry.cache.invalidate()
            self.registry.events.emit(
                Event(
                    EventType.TAG_DELETED,
                    name,
                    digest=digest,
                    tag=decision.tag,
                    operation=Operation.RETENTION,
                    actor=actor,
                )
            )
        return refused

    async def _delete_manifests(
        self, policy: PolicyRecord, name: str, decisions: Sequence[Decision]
    ) -> list[Decision]:
        actor = actor_of(policy)
        metadata = self.registry.metadata
        done: list[Decision] = []
        for decision in decisions:
            if decision.action == DELETE:
                deleted = await self.db.write(
                    metadata.delete_manifest,
                    name,
                    decision.digest,
                    actor,
                    Operation.RETENTION,
                    only_untagged=True,
                )
                if deleted is None:
                    decision = replace(
                        decision,
                        action=KEEP,
                        rule="changed",
                        reason="tagged again or deleted during the run",
                    )
                else:
                    self.registry.cache.invalidate()
                    self.registry.events.emit(
                        Event(EventType.MANIFEST_DELETED, name, digest=decision.digest, actor=actor)
                    )
            done.append(decision)
        return done


def _snapshot(name: str, relative: str, contents: RepositoryContents) -> RepositorySnapshot:
    return RepositorySnapshot(
        name,
        relative,
        tuple(TagInfo(t.name, t.manifest_id, t.pushed_at) for t in contents.tags),
        {
            m.id: ManifestInfo(
                m.id, m.digest, m.pushed_at, m.subject, m.children, m.pulled_at, m.labels
            )
            for m in contents.manifests
        },
        contents.immutable,
    )
