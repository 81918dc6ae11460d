"""What the web explorer computes, caches and describes: the layer under the routes.

Every result is computed by the same functions as the CLI (``kremlinology.api``), in a job on the
job queue, then stored as JSON text in the result store; pages and the JSON API both read it from
there, so a result is the same whether it was just computed or comes from the cache.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kremlinology import api
from kremlinology.counterfactual.catalogue import resolve_query
from kremlinology.counterfactual.replay import Replayer
from kremlinology.defaults import DEFAULT_RUNS, DEFAULT_SCENARIO
from kremlinology.engine.simulate import outcome_kind
from kremlinology.limits import MAX_PENDING_JOBS, check_runs, check_seed
from kremlinology.months import format_month
from kremlinology.narrate.chronicle import PICKS, chronicle
from kremlinology.narrate.families import families
from kremlinology.narrate.report import write_report
from kremlinology.narrate.verdicts import whatif_verdict
from kremlinology.scenario.errors import KremlinologyError, UnknownScenarioError
from kremlinology.scenario.loader import bundled_scenarios, resolve_scenario
from kremlinology.scenario.model import Scenario
from kremlinology.web.jobs import Job, JobQueue, QueueFull
from kremlinology.web.store import CacheKey, ResultStore, default_store_path

if TYPE_CHECKING:
    from kremlinology.counterfactual.query import WhatIfResult

log = logging.getLogger(__name__)

DEFAULT_MAX_RUNS = 50_000
MAX_QUERY_CHARS = 500
RETRY_LOAD_S = 30.0
"""A scenario that failed to load is tried again after this many seconds (it may be mid-edit)."""
MAX_REPORT_FILES = 40
MAX_REPORT_BYTES = 8_000_000
MEDIA_TYPES = {
    ".md": "text/markdown; charset=utf-8",
    ".bbcode": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".csv": "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class Settings:
    """How the explorer runs; ``kremlinology serve`` fills these from its options."""

    scenario: str = DEFAULT_SCENARIO
    store_path: Path | None = None
    max_runs: int = DEFAULT_MAX_RUNS
    default_runs: int = DEFAULT_RUNS  # the JSON API's default, as the CLI's
    page_runs: int = 5_000  # what the pages' forms offer first: an answer in seconds
    workers: int = 2
    max_pending: int = MAX_PENDING_JOBS
    wait_s: float = 300.0
    max_families: int = 5

    @property
    def runs_default(self) -> int:
        """The JSON API's runs when a request names none (within the cap)."""
        return min(self.default_runs, self.max_runs)

    @property
    def runs_page(self) -> int:
        """What the pages' forms offer first (within the cap)."""
        return min(self.page_runs, self.max_runs)


@dataclass(frozen=True)
class Request:
    """One computation the explorer can be asked for, checked and keyed."""

    kind: str  # "whatif", "history" or "chronicle"
    scenario: Scenario
    query: str = ""
    runs: int = 0
    seed: int = 1
    condition: bool = True
    timeline: int | None = None
    pick: str = "typical"
    key: CacheKey = field(init=False)

    def __post_init__(self) -> None:
        extra = f"timeline={self.timeline};pick={self.pick}" if self.kind == "chronicle" else ""
        key = CacheKey(
            self.kind,
            self.scenario.name,
            self.scenario.sha256,
            self.query,
            self.runs,
            self.seed,
            self.condition,
            extra,
        )
        object.__setattr__(self, "key", key)

    @property
    def whatif(self) -> Request:
        """The what-if this request (a chronicle) is about."""
        return Request("whatif", self.scenario, self.query, self.runs, self.seed, self.condition)

    def params(self) -> dict[str, str]:
        """The canonical query parameters of this request's page and API call."""
        params = {"scenario": self.scenario.name}
        if self.kind != "history":
            params["q"] = self.query
        params |= {"runs": str(self.runs), "seed": str(self.seed)}
        if self.kind != "history" and not self.condition:
            params["condition"] = "false"
        if self.kind == "chronicle":
            if self.timeline is not None:
                params["timeline"] = str(self.timeline)
            params["pick"] = self.pick
        return params


class Explorer:
    """Scenarios, the result store, the job queue and the computations, for one server."""

    def __init__(self, settings: Settings) -> None:
        if settings.max_runs < 1:
            raise ValueError("--max-runs must be at least 1")
        self.settings = settings
        self.store = ResultStore(settings.store_path or default_store_path())
        self.jobs = JobQueue(settings.workers, settings.max_pending)
        self._lock = threading.Lock()
        self._scenarios: dict[str, Scenario] = {}
        self._failures: dict[str, tuple[float, KremlinologyError]] = {}
        self._results: OrderedDict[str, WhatIfResult] = OrderedDict()
        self._rates: dict[str, float] = {}
        self._report_lock = threading.Lock()  # matplotlib's settings are global
        self._paths: dict[str, str | Path] = {name: name for name in bundled_scenarios()}
        default = self.load(settings.scenario)
        self.default_name = default.name
        self._paths[default.name] = settings.scenario
        self._scenarios[default.name] = default

    def close(self) -> None:
        """Stop the job queue and close the result store."""
        self.jobs.close()

    # Scenarios -------------------------------------------------------------------------------

    def load(self, name_or_path: str | Path) -> Scenario:
        """Load a scenario folder (raises UnknownScenarioError or ScenarioError)."""
        resolve_scenario(name_or_path)
        return api.load_scenario(name_or_path)

    def scenario_names(self) -> list[str]:
        """The names of the scenarios this server offers, sorted."""
        return sorted(self._paths)

    def scenario(self, name: str | None = None) -> Scenario:
        """A scenario this server offers, by name (default: the one it was started with)."""
        name = name or self.default_name
        if name not in self._paths:
            available = ", ".join(self.scenario_names())
            raise UnknownScenarioError(f"unknown scenario '{name}'; available: {available}")
        with self._lock:
            loaded = self._scenarios.get(name)
            failed = self._failures.get(name)
        if loaded is not None:
            return loaded
        if failed is not None and time.monotonic() - failed[0] < RETRY_LOAD_S:
            raise failed[1]
        try:
            loaded = self.load(self._paths[name])
        except KremlinologyError as error:
            with self._lock:
                self._failures[name] = (time.monotonic(), error)
            raise
        with self._lock:
            self._scenarios[name] = loaded
            self._failures.pop(name, None)
        return loaded

    def scenario_list(self) -> list[dict[str, Any]]:
        """Every scenario on offer, whether it loads, and why not."""
        listed = []
        for name in self.scenario_names():
            entry: dict[str, Any] = {"name": name, "default": name == self.default_name}
            try:
                loaded = self.scenario(name)
            except KremlinologyError as error:
                entry |= {"loads": False, "title": name, "error": str(error)}
            else:
                entry |= {"loads": True, "title": loaded.manifest.title, "error": None}
            listed.append(entry)
        return listed

    # Requests ------------------------------------------------------------------------------

    def check_runs(self, runs: int) -> int:
        """Return ``runs`` if it is from 1 to this server's ``max_runs``; raise ValueError."""
        return check_runs(runs, self.settings.max_runs, where=" on this server")

    @staticmethod
    def check_seed(seed: int) -> int:
        """Return ``seed`` if it is a usable seed; raise ValueError (``engine.limits``)."""
        return check_seed(seed)

    def whatif_request(
        self, scenario: str | None, query: str, runs: int, seed: int, condition: bool = True
    ) -> Request:
        """Check a what-if request: the query must parse or match now (the CLI's message if not)."""
        loaded = self.scenario(scenario)
        text = query.strip()
        if len(text) > MAX_QUERY_CHARS:
            raise ValueError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        resolve_query(text, loaded)
        return Request(
            "whatif", loaded, text, self.check_runs(runs), self.check_seed(seed), condition
        )

    def history_request(self, scenario: str | None, runs: int, seed: int) -> Request:
        """Check a fidelity request (scenario, runs, seed)."""
        loaded = self.scenario(scenario)
        return Request("history", loaded, "", self.check_runs(runs), self.check_seed(seed))

    def chronicle_request(
        self, whatif: Request, timeline: int | None, pick: str = "typical"
    ) -> Request:
        """Check a chronicle request about ``whatif``: timeline in range, a known pick."""
        if timeline is not None and not 0 <= timeline < whatif.runs:
            raise ValueError(
                f"timeline must be between 0 and {whatif.runs - 1:,}, not {timeline:,}"
            )
        if pick not in PICKS:
            raise ValueError(f"unknown pick '{pick}'; use one of {', '.join(PICKS)}")
        return Request(
            "chronicle",
            whatif.scenario,
            whatif.query,
            whatif.runs,
            whatif.seed,
            whatif.condition,
            timeline,
            pick,
        )

    # Results -------------------------------------------------------------------------------

    def cached(self, request: Request) -> dict[str, Any] | None:
        """The stored answer of a request, or None."""
        text = self.store.get(request.key)
        return None if text is None else dict(json.loads(text))

    def cached_text(self, request: Request) -> str | None:
        """The stored JSON text of a request's answer, or None."""
        return self.store.get(request.key)

    def submit(self, request: Request, client: str = "anonymous") -> Job:
        """Queue the computation of a request (or join the same one already under way)."""
        works = {"whatif": self._whatif, "history": self._history, "chronicle": self._chronicle}
        work = works[request.kind]
        return self.jobs.submit(
            request.key.digest,
            request.kind,
            lambda job: work(request, job),
            client,
            self._estimate(request),
            {"params": request.params()},
            runs=request.runs,
        )

    def _estimate(self, request: Request) -> float | None:
        rate = self._rates.get(f"{request.kind}:{request.scenario.sha256}")
        return None if rate is None else rate * request.runs + 0.2

    def _learn(self, request: Request, seconds: float) -> None:
        name = f"{request.kind}:{request.scenario.sha256}"
        rate = seconds / max(request.runs, 1)
        old = self._rates.get(name)
        self._rates[name] = rate if old is None else 0.5 * old + 0.5 * rate

    def _simulate(self, request: Request, job: Job | None) -> WhatIfResult:
        with self._lock:
            held = self._results.get(request.key.digest)
        if held is not None:
            return held
        if job is not None:
            job.set_stage("simulating twin worlds", 0.02, 0.8, self._estimate(request))
        # One process per job: the server runs jobs side by side in threads, and forking worker
        # processes from a threaded server is unsafe. The result does not depend on it.
        result = api.whatif(
            request.query,
            request.scenario,
            request.runs,
            request.seed,
            condition=request.condition,
            workers=1,
            progress=None if job is None else job.report,
        )
        self._learn(request, result.elapsed_s)
        with self._lock:
            self._results[request.key.digest] = result
            while len(self._results) > 2:  # large runs hold hundreds of MB each
                self._results.popitem(last=False)
        return result

    def _whatif(self, request: Request, job: Job) -> dict[str, Any]:
        result = self._simulate(request, job)
        payload: dict[str, Any] = {
            # the drivers (found by intervention, several times the answer's own cost) and the
            # why-chain come later, with the report: see _report_job
            "result": result.to_dict(drivers=False),
            "explained": False,
            "verdict": whatif_verdict(result),
            "chronicle": None,
            "why": None,
            "families": [],
            "notes": [],
        }
        job.set_stage("writing chronicles", 0.8, 0.95)
        self._narrate(result, payload, causes=False)
        # The answer goes out without waiting for its explanation and report: the drivers take
        # several times the simulation, the charts seconds of matplotlib under a global lock,
        # and both would make every answer wait behind every other's. They are found in the
        # background (or when asked for) and the stored answer is replaced by the whole one.
        payload["files"] = ["result.json"]
        job.set_stage("saving", 0.95, 0.99)
        text = json.dumps(payload, allow_nan=False)
        self.store.put(request.key, text, {"result.json": _result_file(result)})
        self._queue_report(request, job.client)
        return payload

    def explained(self, request: Request) -> bool:
        """Whether the stored answer of a what-if has its drivers, why-chain and report."""
        stored = self.cached(request)
        return bool(stored is not None and stored.get("explained", True))

    def _queue_report(self, request: Request, client: str) -> None:
        """Queue, as background work, what the first answer left out: its explanation (drivers
        and why-chain), which then queues its report."""
        try:
            self.submit_explain(request, client, background=True)
        except (QueueFull, RuntimeError):  # busy or closing: found when asked for
            log.info("explanation of %s left for later", request.key.digest[:12])

    def submit_explain(self, request: Request, client: str, background: bool = False) -> Job:
        """Queue the finding of a stored what-if's drivers and why-chain (the stored answer is
        then replaced by the whole one), or join the job already doing it."""
        return self._follow_up(request, "explain", self._explain_job, client, background)

    def submit_report(self, request: Request, client: str, background: bool = False) -> Job:
        """Queue the writing of a stored what-if's report (its files are attached to the
        stored answer; the answer is explained first if it is not yet), or join that job."""
        return self._follow_up(request, "report", self._report_job, client, background)

    def _follow_up(
        self,
        request: Request,
        kind: str,
        work: Callable[[Request, Job], Any],
        client: str,
        background: bool,
    ) -> Job:
        """A job that completes a stored what-if, keyed by the what-if and ``kind``."""
        return self.jobs.submit(
            f"{request.key.digest}:{kind}",
            kind,
            lambda job: work(request, job),
            client,
            None,
            {"params": request.params()},
            runs=request.runs,
            background=background,
        )

    def report_request(self, digest: str) -> Request | None:
        """The what-if stored under ``digest`` as a request of this server, or None when it
        is not stored, is not a what-if, or its scenario has changed since."""
        key = self.store.key(digest)
        if key is None or key.kind != "whatif" or key.scenario not in self._paths:
            return None
        try:
            loaded = self.scenario(key.scenario)
        except KremlinologyError:
            return None
        if loaded.sha256 != key.scenario_sha256:
            return None
        request = Request("whatif", loaded, key.query, key.runs, key.seed, key.condition)
        return request if request.key.digest == digest else None

    def _explain_job(self, request: Request, job: Job) -> dict[str, Any]:
        """Find the drivers and the why-chain and store the whole answer in place of the first
        one; then queue the report (background work)."""
        stored = self.cached(request)
        if stored is not None and stored.get("explained", True):
            return stored
        result = self._simulate(request, job)
        job.set_stage("finding the drivers by intervention", 0.5, 0.85)
        payload: dict[str, Any] = dict(stored or {})
        payload["result"] = result.to_dict()
        payload["explained"] = True
        payload.setdefault("notes", [])
        job.set_stage("tracing why the typical timeline went as it did", 0.85, 0.98)
        try:
            told = chronicle(result, replayer=Replayer(result.twin), causes=True)
            payload["why"] = told.causes
        except Exception as error:  # the answer stands without its why-chain
            log.exception("why-chain failed")
            payload["notes"].append(f"The why-chain could not be found: {error}")
        self.store.put(
            request.key, json.dumps(payload, allow_nan=False), {"result.json": _result_file(result)}
        )
        try:
            self.submit_report(request, job.client, background=True)
        except (QueueFull, RuntimeError):  # busy or closing: written when asked for
            log.info("report of %s left for later", request.key.digest[:12])
        return payload

    def _report_job(self, request: Request, job: Job) -> list[str]:
        """Write the report of a stored what-if (explained first if it is not yet) and attach
        its files to the stored answer."""
        if "report.md" in self.store.files(request.key.digest):
            return self.store.files(request.key.digest)
        if not self.explained(request):
            self._explain_job(request, job)
        result = self._simulate(request, job)
        job.set_stage("writing the report", 0.9, 0.98)
        notes: list[str] = []
        files = self._report(result, notes)
        self.store.attach(request.key.digest, files)
        if notes:
            raise RuntimeError(notes[0])
        return sorted(files)

    def _narrate(self, result: WhatIfResult, payload: dict[str, Any], causes: bool = True) -> None:
        try:
            replayer = Replayer(result.twin)
            told = chronicle(result, replayer=replayer, causes=causes)
            if causes:
                payload["why"] = told.causes  # "why this happened in this world", for the page
            payload["chronicle"] = dataclasses.replace(told, causes=None).to_dict()
            for family in families(result, max_families=self.settings.max_families):
                entry = family.to_dict()
                story = chronicle(result, timeline=entry.get("representative"), replayer=replayer)
                payload["families"].append({"family": entry, "chronicle": story.to_dict()})
        except Exception as error:  # the result stands without its chronicles
            log.exception("chronicles failed")
            payload["notes"].append(f"Chronicles could not be written: {error}")

    def _report(self, result: WhatIfResult, notes: list[str]) -> dict[str, tuple[str, bytes]]:
        files: dict[str, tuple[str, bytes]] = {}
        with tempfile.TemporaryDirectory(prefix="kremlinology-report-") as folder:
            target = Path(folder) / "report"
            try:
                with self._report_lock:
                    write_report(result, target, max_families=self.settings.max_families)
            except Exception as error:  # the result stands without its report
                log.exception("report failed")
                notes.append(f"The report could not be written: {error}")
            else:
                files = _collect(target)
        if "result.json" not in files:
            files["result.json"] = _result_file(result)
        return files

    def _history(self, request: Request, job: Job) -> dict[str, Any]:
        job.set_stage("simulating the baseline", 0.02, 0.95, self._estimate(request))
        started = time.perf_counter()
        report = api.history(request.scenario, request.runs, request.seed)
        self._learn(request, time.perf_counter() - started)
        text = json.dumps(report, allow_nan=False)
        job.set_stage("saving", 0.98, 0.99)
        self.store.put(request.key, text)
        return dict(report)

    def _chronicle(self, request: Request, job: Job) -> dict[str, Any]:
        result = self._simulate(request.whatif, job)
        job.set_stage("writing the chronicle", 0.8, 0.98)
        story = chronicle(result, timeline=request.timeline, pick=request.pick)
        data: dict[str, Any] = story.to_dict()
        self.store.put(request.key, json.dumps(data, allow_nan=False))
        return data

    # Descriptions ----------------------------------------------------------------------------

    def outcome_kinds(self, scenario: Scenario) -> dict[str, str]:
        """Map each outcome column id to 'probability' or 'mean'."""
        kinds = {}
        for i, outcome in enumerate(scenario.outcomes):
            kinds[outcome.id] = "mean" if outcome_kind(scenario, i) == "number" else "probability"
        return kinds


def _result_file(result: WhatIfResult) -> tuple[str, bytes]:
    return ("application/json", result.to_json(indent=2).encode("utf-8"))


def _collect(folder: Path) -> dict[str, tuple[str, bytes]]:
    files: dict[str, tuple[str, bytes]] = {}
    total = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        if len(files) >= MAX_REPORT_FILES or total + size > MAX_REPORT_BYTES:
            log.warning("report file %s left out (too many or too large)", name)
            continue
        total += size
        media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        files[name] = (media, path.read_bytes())
    return files


def plain(value: Any) -> Any:
    """Make YAML-loaded values plain JSON data (dates and odd scalars become text)."""
    return json.loads(json.dumps(value, default=str))


def describe_scenario(scenario: Scenario) -> dict[str, Any]:
    """The scenario as the browser shows it: manifest, actors, events with sources, catalogue."""
    manifest = scenario.manifest
    events = []
    for event in scenario.events:
        trigger = None
        if event.trigger is not None:
            source, delay = event.trigger
            trigger = {"event": scenario.events[source].id, "delay": delay}
        events.append(
            {
                "id": event.id,
                "label": event.label,
                "window": [format_month(event.first), format_month(event.last)],
                "once": event.once,
                "trigger": trigger,
                "actors": list(event.actors),
                "options": [{"id": o.id, "label": o.label} for o in event.options],
                "sources": list(event.sources),
            }
        )
    return {
        "scenario": scenario.describe(),
        "title": manifest.title,
        "description": manifest.description,
        "start": format_month(scenario.start),
        "end": format_month(scenario.end),
        "authors": list(manifest.authors),
        "holdout_from": manifest.holdout_from,
        "actors": [plain(actor.model_dump()) for actor in scenario.actors],
        "variables": [plain(v.model_dump()) for v in scenario.variables],
        "parameters": [plain(p.model.model_dump()) for p in scenario.parameters],
        "events": events,
        "outcomes": [
            {
                "id": o.id,
                "label": o.label,
                "at": "end" if o.month is None else format_month(o.month),
            }
            for o in scenario.outcomes
        ],
        "facts": [
            {
                "id": f.id,
                "label": f.label,
                "month": format_month(f.month),
                "tolerance": f.tolerance,
                "split": f.split,
                "sources": list(f.sources),
            }
            for f in scenario.facts
        ],
        "whatifs": [w.model_dump() for w in scenario.whatifs],
    }
