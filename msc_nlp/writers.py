"""Extra output formats derived from a tagging JSONL file: CSV, BRAT standoff and an HTML report.

All offsets written are code points into the record's text, end exclusive, except BRAT, whose
offsets are also code points into the ``.txt`` file written beside each ``.ann`` (UTF-8, the text
written exactly as tagged, so offsets stay valid).
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from msc_nlp.jsonl import iter_jsonl, write_atomic
from msc_nlp.schema import ENTITY_TYPES

COLOURS = {"CELL_TYPE": "#8ecae6", "DOSE": "#ffb703", "ROUTE": "#90be6d", "TIMING": "#f4a3c4", "OUTCOME": "#cdb4db"}
CSV_FIELDS = ["id", "pmid", "label", "start", "end", "text", "score", "model"]


def read_output(path: Path) -> list[dict]:
    """Records of a tagging output file."""
    return [record for _, record in iter_jsonl(path)]


def write_csv(records: Iterable[dict], path: Path) -> None:
    """One row per entity: id, pmid, label, start, end, text, score, model."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        for entity in record.get("entities", []):
            writer.writerow({"id": record["id"], "pmid": record.get("pmid", ""), "label": entity["label"],
                             "start": entity["start"], "end": entity["end"], "text": entity["text"],
                             "score": entity.get("score", ""), "model": record.get("model", "")})
    write_atomic(path, [buffer.getvalue().rstrip("\n")])


def write_brat(records: Iterable[dict], folder: Path) -> int:
    """A ``<id>.txt`` and ``<id>.ann`` pair per ``ok`` record; returns the number of pairs.

    BRAT cannot represent a span crossing a line break in one fragment, so such spans are written
    as several fragments (``T1 LABEL 0 5;6 10``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for record in records:
        if record.get("status") != "ok":
            continue
        text = record["text"]
        lines = []
        for number, entity in enumerate(record["entities"], start=1):
            fragments, start = [], entity["start"]
            for piece in text[entity["start"] : entity["end"]].split("\n"):
                if piece:
                    fragments.append(f"{start} {start + len(piece)}")
                start += len(piece) + 1
            lines.append(f"T{number}\t{entity['label']} {';'.join(fragments)}\t{entity['text'].replace(chr(10), ' ')}")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(record["id"]))
        write_atomic(folder / f"{safe}.txt", [text])
        write_atomic(folder / f"{safe}.ann", lines)
        count += 1
    return count


def _bar_chart(title: str, counts: Counter, top: int = 15) -> str:
    items = counts.most_common(top)
    if not items:
        return f"<section><h3>{html.escape(title)}</h3><p>none</p></section>"
    largest = items[0][1]
    rows = "".join(
        f'<div class="row"><span class="name">{html.escape(name)}</span>'
        f'<span class="bar" style="width:{max(1, round(300 * n / largest))}px"></span><span class="n">{n}</span></div>'
        for name, n in items)
    return f'<section class="chart"><h3>{html.escape(title)}</h3>{rows}</section>'


def render_abstract(record: dict) -> str:
    """One abstract as HTML with each entity in a ``<mark class="entity" data-label=...>``."""
    text = record.get("text", "")
    parts, position = [], 0
    for entity in sorted(record.get("entities", []), key=lambda e: e["start"]):
        parts.append(html.escape(text[position : entity["start"]]))
        colour = COLOURS.get(entity["label"], "#ddd")
        parts.append(f'<mark class="entity" data-label="{entity["label"]}" data-start="{entity["start"]}" '
                     f'data-end="{entity["end"]}" style="background:{colour}">'
                     f'{html.escape(text[entity["start"]:entity["end"]])}<span class="tag">{entity["label"]}</span></mark>')
        position = entity["end"]
    parts.append(html.escape(text[position:]))
    body = "".join(parts).replace("\n", "<br>")
    status = record.get("status", "ok")
    note = "" if status == "ok" else f'<p class="status">{html.escape(status)}: {html.escape(record.get("reason") or "")}</p>'
    return (f'<article id="doc-{html.escape(str(record.get("id")))}"><h2>{html.escape(str(record.get("id")))}</h2>'
            f"{note}<p>{body}</p></article>")


def write_html(records: list[dict], path: Path, title: str = "msc-nlp tagging report") -> None:
    """A self-contained HTML page: summary charts, then every abstract with highlighted entities."""
    per_type: Counter = Counter()
    per_key = {label: Counter() for label in ENTITY_TYPES}
    forms: dict[str, Counter] = {}
    statuses: Counter = Counter()
    for record in records:
        statuses[record.get("status", "ok")] += 1
        for entity in record.get("entities", []):
            per_type[entity["label"]] += 1
            surface = " ".join(entity["text"].split())
            key = surface.lower()  # counted case-insensitively, shown in its commonest spelling
            per_key.setdefault(entity["label"], Counter())[key] += 1
            forms.setdefault(key, Counter())[surface] += 1
    per_surface = {label: Counter({forms[key].most_common(1)[0][0]: n for key, n in counts.items()})
                   for label, counts in per_key.items()}
    charts = [_bar_chart("Entities per type", per_type)]
    for label, name in (("CELL_TYPE", "Most frequent cell types"), ("ROUTE", "Most frequent routes"),
                        ("DOSE", "Most frequent doses"), ("OUTCOME", "Most frequent outcomes"),
                        ("TIMING", "Most frequent timings")):
        charts.append(_bar_chart(name, per_surface[label]))
    legend = " ".join(f'<mark style="background:{c}">{label}</mark>' for label, c in COLOURS.items())
    summary = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: auto; line-height: 1.5; }}
mark {{ padding: 0 .2em; border-radius: .2em; }}
.tag {{ font-size: .65em; font-weight: bold; margin-left: .3em; vertical-align: super; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 2em; }}
.row {{ display: flex; align-items: center; gap: .5em; font-size: .85em; }}
.name {{ width: 16em; text-align: right; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }}
.bar {{ display: inline-block; height: .9em; background: #457b9d; }}
.status {{ color: #9d0208; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(records)} records ({html.escape(summary)}). Legend: {legend}</p>
<div class="charts">{''.join(charts)}</div>
{''.join(render_abstract(r) for r in records)}
</body></html>"""
    write_atomic(path, [page])
