"""Exports people use: timelines as Parquet and CSV, chronicles for TimelineJS and Aeon."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from conftest import TESTBED
from kremlinology.cli import app

RUNNER = CliRunner()
COMMON = ("--scenario", str(TESTBED), "--runs", "400", "--seed", "4")


def invoke(*args: str) -> tuple[int, str, str]:
    done = RUNNER.invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def test_run_writes_its_timelines_as_parquet(tmp_path: Path) -> None:
    target = tmp_path / "base.parquet"
    code, out, err = invoke("run", *COMMON, "--json", "--timelines-out", str(target))
    assert code == 0, err
    table = pq.read_table(target)  # what polars and DuckDB read too: plain Parquet
    frame = table.to_pandas()
    assert table.num_rows == 400 and set(frame["world"]) == {"baseline"}
    assert {"timeline", "param:luck", "outcome:king_rules", "event:plot"} <= set(frame.columns)
    answer = json.loads(out)
    shares = {row["id"]: row["p"] for row in answer["events"]}
    assert frame["event:plot"].notna().mean() == shares["plot"]  # the same run, counted again
    assert not list(tmp_path.glob(".*partial"))


def test_whatif_writes_both_worlds_as_csv(tmp_path: Path) -> None:
    target = tmp_path / "pairs.csv"
    code, out, err = invoke(
        "whatif", "no_plot", *COMMON, "--json", "--no-drivers", "--timelines-out", str(target)
    )
    assert code == 0, err
    answer = json.loads(out)
    frame = pd.read_csv(target)
    kept = answer["conditioned_runs"]
    assert len(frame) == 2 * kept and frame.groupby("world").size().to_dict() == {
        "baseline": kept,
        "whatif": kept,
    }
    crushed = next(row for row in answer["outcomes"] if row["id"] == "rebel_crushed")
    means = frame.groupby("world")["outcome:rebel_crushed"].mean()
    assert means["baseline"] == crushed["baseline"] and means["whatif"] == crushed["whatif"]
    assert frame.loc[frame["world"] == "whatif", "event:plot"].isna().all()


def test_a_table_with_another_suffix_is_refused(tmp_path: Path) -> None:
    code, out, _ = invoke("run", *COMMON, "--json", "--timelines-out", str(tmp_path / "t.xlsx"))
    assert code == 2 and "must end in .parquet or .csv" in json.loads(out)["error"]
    code, out, _ = invoke("run", *COMMON, "--json", "--timelines-out", "/no/such/dir/t.csv")
    assert code == 2 and "cannot write" in json.loads(out)["error"]


def test_a_chronicle_for_timelinejs() -> None:
    code, out, err = invoke("chronicle", "no_plot", *COMMON, "--format", "json")
    assert code == 0, err
    told = json.loads(out)
    code, out, err = invoke("chronicle", "no_plot", *COMMON, "--format", "timelinejs")
    assert code == 0, err
    data = json.loads(out)
    assert data["title"]["text"]["headline"] == told["title"]
    slides = data["events"]
    assert [s["text"]["text"] for s in slides] == [e["text"] for e in told["whatif"]]
    for slide, entry in zip(slides, told["whatif"], strict=True):
        year, month = entry["month"].split("-")
        assert slide["start_date"]["year"] == year
        assert slide["start_date"]["month"] == str(int(month))
        assert slide["group"]
    assert len({s["unique_id"] for s in slides}) == len(slides)
    for era in data["eras"]:
        assert (era["start_date"]["year"], int(era["start_date"]["month"])) <= (
            era["end_date"]["year"],
            int(era["end_date"]["month"]),
        )


def test_a_chronicle_for_aeon_keeps_its_ids() -> None:
    first = invoke("chronicle", "no_plot", *COMMON, "--format", "aeon")
    again = invoke("chronicle", "no_plot", *COMMON, "--format", "aeon")
    assert first[0] == 0 and first[1] == again[1]  # a re-export is identical: ids are stable
    rows = list(csv.DictReader(io.StringIO(first[1])))
    assert rows and list(rows[0]) == [
        "ID",
        "Title",
        "Start Date",
        "End Date",
        "Summary",
        "Tags",
        "World",
        "Event",
    ]
    assert len({r["ID"] for r in rows}) == len(rows)
    assert {r["World"] for r in rows} <= {"What-if world", "As history went"}
    assert all(r["Start Date"].endswith("-01") and r["Start Date"] < r["End Date"] for r in rows)
    other = invoke("chronicle", "no_plot", *COMMON[:-1], "5", "--format", "aeon")[1]
    other_ids = {r["ID"] for r in csv.DictReader(io.StringIO(other))}
    assert other_ids and not other_ids & {r["ID"] for r in rows}  # another seed, other ids
