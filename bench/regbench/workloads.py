"""The measurements. Each workload prepares state on a server, then measures rounds.

A round's input (a fresh blob, a batch of images, a set of tag names) is made
once in `begin_round` and sent to both registries, so they do identical work.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from regbench import ops, procfs
from regbench.blobs import BlobFactory, BlobFile, Image, MiB, make_image
from regbench.client import BenchError, Client
from regbench.mediatypes import MANIFEST_OCI
from regbench.parallel import run_parallel
from regbench.procfs import Memory, tree_memory
from regbench.servers import Server
from regbench.wrk import header_script, run_wrk


@dataclass(frozen=True)
class Spec:
    """One row of the results table."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    target: float
    # True: `target` is a ceiling on Cargobay's own figure, not a ratio.
    limit: bool = False

    def format(self, value: float) -> str:
        # Listings take milliseconds: seconds need four decimals to say anything.
        return f"{value:,.4f}" if self.unit == "s" else f"{value:,.1f}"


@dataclass(frozen=True)
class Options:
    work: Path
    blob_size: int = 256 * MiB
    chunk_size: int = 16 * MiB
    big_size: int = 1024 * MiB
    images: int = 200
    tag_puts: int = 2000
    tag_list: int = 3000
    tag_page: int = 100
    concurrency: int = 8
    wrk_seconds: float = 10.0
    wrk_connections: int = 32
    wrk_threads: int = 2


@dataclass
class Measured:
    values: dict[str, float]
    detail: dict[str, object] = field(default_factory=dict)


class Workload:
    name = ""
    specs: tuple[Spec, ...] = ()
    # Set when more rounds would only repeat a peak, not sharpen a median.
    fixed_rounds: int | None = None

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random()

    def prepare(self, server: Server) -> None:
        """Untimed setup on one server."""

    def begin_round(self, index: int) -> None:
        """Make this round's input, shared by both servers."""

    def measure(self, server: Server, index: int) -> Measured:
        raise NotImplementedError

    def finish(self, server: Server) -> None:
        """Untimed checks after the last round."""

    def notes(self, details: list[tuple[str, dict[str, object]]]) -> list[str]:
        """Remarks for the report, from each round's (target, detail)."""
        return []


def _mib_per_s(size: int, seconds: float) -> float:
    return size / MiB / seconds


def _push_image(client: Client, repo: str, tag: str, image: Image) -> None:
    for blob in image.blobs:
        ops.push_small_blob(client, repo, blob.data, blob.digest)
    ops.put_manifest(client, repo, tag, image.manifest, MANIFEST_OCI)


def _with_client(server: Server) -> Client:
    return server.client()


class PushMonolithic(Workload):
    name = "push-mono"
    specs = (Spec("push-mono", "blob push, monolithic", "MiB/s", True, 3.0),)
    repo = "bench/push-mono"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.factory = BlobFactory(opts.work / f"{self.name}.blob", opts.blob_size)
        self.blob = self.factory.fresh()

    def begin_round(self, index: int) -> None:
        self.blob = self.factory.fresh()

    def measure(self, server: Server, index: int) -> Measured:
        client = server.client()
        try:
            began = time.perf_counter()
            self._push(client)
            elapsed = time.perf_counter() - began
            if (size := ops.blob_size(client, self.repo, self.blob.digest)) != self.blob.size:
                raise BenchError(f"pushed {self.blob.size} bytes, HEAD says {size}")
        finally:
            client.close()
        return Measured({self.name: _mib_per_s(self.blob.size, elapsed)}, {"seconds": elapsed})

    def _push(self, client: Client) -> None:
        ops.push_blob_monolithic(client, self.repo, self.blob)


class PushChunked(PushMonolithic):
    name = "push-chunked"
    specs = (Spec("push-chunked", "blob push, 16 MiB chunks", "MiB/s", True, 3.0),)
    repo = "bench/push-chunked"

    def _push(self, client: Client) -> None:
        ops.push_blob_chunked(client, self.repo, self.blob, self.opts.chunk_size)


class Pull(Workload):
    name = "pull"
    specs = (Spec("pull", "blob pull", "MiB/s", True, 1.2),)
    repo = "bench/pull"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.blob = BlobFactory(opts.work / f"{self.name}.blob", opts.blob_size).fresh()

    def prepare(self, server: Server) -> None:
        client = server.client()
        try:
            ops.push_blob_monolithic(client, self.repo, self.blob)
        finally:
            client.close()

    def measure(self, server: Server, index: int) -> Measured:
        client = server.client()
        try:
            began = time.perf_counter()
            size = ops.pull_blob(client, self.repo, self.blob.digest)
            elapsed = time.perf_counter() - began
        finally:
            client.close()
        if size != self.blob.size:
            raise BenchError(f"pulled {size} bytes of {self.blob.size}")
        return Measured({self.name: _mib_per_s(size, elapsed)}, {"seconds": elapsed})

    def finish(self, server: Server) -> None:
        # Hashing would slow the timed pulls; check the bytes once, untimed.
        digest = hashlib.sha256()
        client = server.client()
        try:
            ops.pull_blob(client, self.repo, self.blob.digest, sink=digest.update)
        finally:
            client.close()
        if f"sha256:{digest.hexdigest()}" != self.blob.digest:
            raise BenchError("pulled blob does not match its digest")


class ManifestGet(Workload):
    name = "manifest-get"
    specs = (Spec("manifest-get", "manifest GET (wrk)", "req/s", True, 5.0),)
    repo = "bench/manifest-get"
    tag = "latest"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.image = make_image(self.rng)

    def prepare(self, server: Server) -> None:
        client = server.client()
        try:
            _push_image(client, self.repo, self.tag, self.image)
            resp = ops.get_manifest(client, self.repo, self.tag, MANIFEST_OCI)
        finally:
            client.close()
        if resp.body != self.image.manifest:
            raise BenchError("manifest GET returned different bytes than were pushed")

    def measure(self, server: Server, index: int) -> Measured:
        o = self.opts
        url = server.url(f"/v2/{self.repo}/manifests/{self.tag}")
        script = header_script(
            o.work / f"manifest-get-{server.name}.lua",
            {"Accept": MANIFEST_OCI, **server.auth_headers},
        )
        result = run_wrk(url, script, o.wrk_threads, o.wrk_connections, o.wrk_seconds)
        if result.non_2xx:
            raise BenchError(f"{result.non_2xx} of {result.requests} responses were not 2xx/3xx")
        return Measured({self.name: result.requests_per_s}, result.__dict__.copy())


class ImagePush(Workload):
    name = "image-push"
    specs = (Spec("image-push", "small image push, 8 at a time", "images/s", True, 4.0),)
    repo = "bench/images"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.batch: list[tuple[str, Image]] = []

    def begin_round(self, index: int) -> None:
        self.batch = [(f"r{index}-{i:05d}", make_image(self.rng)) for i in range(self.opts.images)]

    def measure(self, server: Server, index: int) -> Measured:
        def push(client: Client, item: tuple[str, Image]) -> None:
            _push_image(client, self.repo, item[0], item[1])

        elapsed = run_parallel(
            lambda: _with_client(server), self.batch, push, self.opts.concurrency
        )
        self._check_one(server)
        return Measured({self.name: len(self.batch) / elapsed}, {"seconds": elapsed})

    def _check_one(self, server: Server) -> None:
        tag, image = self.batch[-1]
        client = server.client()
        try:
            if ops.get_manifest(client, self.repo, tag, MANIFEST_OCI).body != image.manifest:
                raise BenchError(f"manifest {tag} came back different")
        finally:
            client.close()


class _TaggedImage(Workload):
    """Shared setup: one small image in `repo`, re-tagged many times."""

    repo = ""

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.image = make_image(self.rng)

    base_tag = "base"

    def prepare(self, server: Server) -> None:
        client = server.client()
        try:
            _push_image(client, self.repo, self.base_tag, self.image)
        finally:
            client.close()

    def put_tags(self, server: Server, tags: list[str]) -> float:
        def put(client: Client, tag: str) -> None:
            ops.put_manifest(client, self.repo, tag, self.image.manifest, MANIFEST_OCI)

        return run_parallel(lambda: _with_client(server), tags, put, self.opts.concurrency)


class TagPut(_TaggedImage):
    name = "tag-put"
    specs = (Spec("tag-put", "tag PUT, 8 at a time", "tags/s", True, 3.0),)
    repo = "bench/tag-put"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.tags: list[str] = []

    def begin_round(self, index: int) -> None:
        # New names every round: each PUT creates a tag rather than rewriting one.
        self.tags = [f"r{index}-t{i:05d}" for i in range(self.opts.tag_puts)]

    def measure(self, server: Server, index: int) -> Measured:
        elapsed = self.put_tags(server, self.tags)
        return Measured({self.name: len(self.tags) / elapsed}, {"seconds": elapsed})


class TagList(_TaggedImage):
    name = "tag-list"
    specs = (
        Spec("tag-list-paged", "tags/list, all pages of n=100", "s", False, 1.0),
        Spec("tag-list-full", "tags/list, one request", "s", False, 1.0),
    )
    repo = "bench/tag-list"
    # One listing takes milliseconds: repeat it within a round and keep the
    # median, so one scheduler hiccup on a busy host does not decide the round.
    repeats = 5

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.expected = [f"v{i:05d}" for i in range(opts.tag_list)]
        self.base_tag = self.expected[0]

    def prepare(self, server: Server) -> None:
        super().prepare(server)
        self.put_tags(server, self.expected[1:])

    def measure(self, server: Server, index: int) -> Measured:
        client = server.client()
        try:
            paged = [self._paged(client) for _ in range(self.repeats)]
            full = [self._full(client) for _ in range(self.repeats)]
        finally:
            client.close()
        requests, is_sorted = paged[0][1], paged[0][2]
        return Measured(
            {
                "tag-list-paged": statistics.median(t for t, _, _ in paged),
                "tag-list-full": statistics.median(t for t, _ in full),
            },
            {"page_requests": requests, "paged_sorted": is_sorted, "full_sorted": full[0][1]},
        )

    def notes(self, details: list[tuple[str, dict[str, object]]]) -> list[str]:
        seen = {target: d for target, d in details}
        pages = ", ".join(f"{t} {d['page_requests']}" for t, d in seen.items())
        unsorted = [t for t, d in seen.items() if not (d["paged_sorted"] and d["full_sorted"])]
        notes = [f"requests per paginated listing: {pages} (1 means n was ignored)"]
        if unsorted:
            notes.append(f"tags/list not in lexical order from: {', '.join(unsorted)}")
        return notes

    def _paged(self, client: Client) -> tuple[float, int, bool]:
        began = time.perf_counter()
        tags, requests = ops.list_tags_paged(client, self.repo, self.opts.tag_page)
        elapsed = time.perf_counter() - began
        self._check(tags)
        return elapsed, requests, tags == sorted(tags)

    def _full(self, client: Client) -> tuple[float, bool]:
        began = time.perf_counter()
        tags = ops.list_tags_all(client, self.repo)
        elapsed = time.perf_counter() - began
        self._check(tags)
        return elapsed, tags == sorted(tags)

    def _check(self, tags: list[str]) -> None:
        if len(tags) != len(self.expected) or set(tags) != set(self.expected):
            raise BenchError(f"tags/list gave {len(tags)} tags, wanted {len(self.expected)}")


class BigPushMemory(Workload):
    name = "mem-1g"
    specs = (
        Spec("mem-1g-mono", "peak RSS, 1 GiB push, monolithic", "MiB", False, 200.0, limit=True),
        Spec("mem-1g-chunked", "peak RSS, 1 GiB push, chunked", "MiB", False, 200.0, limit=True),
    )
    fixed_rounds = 1
    repo = "bench/mem-1g"

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        # Two files, so both blobs are hashed before any clock or sampler runs.
        self.mono = BlobFactory(opts.work / f"{self.name}-mono.blob", opts.big_size)
        self.chunked = BlobFactory(opts.work / f"{self.name}-chunked.blob", opts.big_size)
        self.blobs = (self.mono.fresh(), self.chunked.fresh())

    def begin_round(self, index: int) -> None:
        self.blobs = (self.mono.fresh(), self.chunked.fresh())

    def measure(self, server: Server, index: int) -> Measured:
        idle = tree_memory(server.pid)
        mono = self._peak(server, self.blobs[0], chunked=False)
        chunked = self._peak(server, self.blobs[1], chunked=True)
        return Measured(
            {"mem-1g-mono": mono.rss / MiB, "mem-1g-chunked": chunked.rss / MiB},
            {
                "processes": idle.processes,
                "idle_rss_mib": idle.rss / MiB,
                "idle_pss_mib": idle.pss / MiB,
                "peak_pss_mib_mono": mono.pss / MiB,
                "peak_pss_mib_chunked": chunked.pss / MiB,
            },
        )

    def notes(self, details: list[tuple[str, dict[str, object]]]) -> list[str]:
        return [
            f"{target}: {d['processes']} processes, idle RSS {d['idle_rss_mib']:.0f} MiB"
            f" (PSS {d['idle_pss_mib']:.0f}); peak PSS {d['peak_pss_mib_mono']:.0f} MiB"
            f" monolithic, {d['peak_pss_mib_chunked']:.0f} MiB chunked"
            for target, d in details
        ]

    def _peak(self, server: Server, blob: BlobFile, chunked: bool) -> Memory:
        client = server.client()
        try:
            with procfs.PeakMemory(server.pid) as sampler:
                if chunked:
                    ops.push_blob_chunked(client, self.repo, blob, self.opts.chunk_size)
                else:
                    ops.push_blob_monolithic(client, self.repo, blob)
        finally:
            client.close()
        return sampler.peak


ALL: tuple[type[Workload], ...] = (
    PushMonolithic,
    PushChunked,
    Pull,
    ManifestGet,
    ImagePush,
    TagPut,
    TagList,
    BigPushMemory,
)
