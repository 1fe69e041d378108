"""The ``msc-nlp`` command: a thin layer that parses options and calls library functions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from msc_nlp.errors import MscNlpError

log = logging.getLogger("msc_nlp")

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = PACKAGE_ROOT / "models" / "msc-ner"
DEFAULT_ANNOTATIONS = Path("annotations")

EXIT_OK, EXIT_SOME_FAILED, EXIT_NOTHING_TRUSTWORTHY = 0, 1, 2


def default_model() -> Path:
    """The model used when ``--model`` is not given: ``$MSC_NLP_MODEL`` or the shipped ``models/msc-ner``."""
    return Path(os.environ.get("MSC_NLP_MODEL", DEFAULT_MODEL))


def _annotations_build(args: argparse.Namespace) -> int:
    from msc_nlp import corpus

    for path in corpus.build(Path(args.root)):
        print(f"wrote {path}")
    return EXIT_OK


def _annotations_split(args: argparse.Namespace) -> int:
    from msc_nlp import corpus

    root = Path(args.root)
    existing = {split: set(corpus.read_split(root, split)) for split in corpus.SPLITS
                if (root / "splits" / f"{split}.txt").exists()}
    splits = corpus.assign_splits(corpus.load_corpus(root), existing)
    corpus.write_splits(root, splits)
    print(", ".join(f"{split}: {len(ids)}" for split, ids in splits.items()))
    return EXIT_OK


def _annotations_agreement(args: argparse.Namespace) -> int:
    from msc_nlp import corpus
    from msc_nlp.markup import read_marked_file

    second = [corpus.document_from_marked(m) for path in args.paths for m in read_marked_file(Path(path))]
    result = corpus.agreement(corpus.load_corpus(Path(args.root)), second, resamples=1000)
    _write_reports(result, args.out, args.markdown, "Inter-annotator agreement")
    return EXIT_OK


def _annotations_import(args: argparse.Namespace) -> int:
    from msc_nlp.importers import import_documents
    from msc_nlp.jsonl import dumps, write_atomic

    if not (args.source_format and args.out):
        raise MscNlpError("annotations import needs --from FORMAT and --out FILE.jsonl")
    bad = [item for item in args.label_map if "=" not in item]
    if bad:
        raise MscNlpError(f"--label-map entries must be FROM=TO, got {bad[0]!r}")
    label_map = dict(item.split("=", 1) for item in args.label_map)
    documents = import_documents(args.source_format, [Path(p) for p in args.paths], label_map)
    write_atomic(Path(args.out), [dumps(doc.to_json()) for doc in documents])
    print(f"{len(documents)} documents, {sum(len(d.spans) for d in documents)} spans -> {args.out}")
    return EXIT_OK


def _annotations_stats(args: argparse.Namespace) -> int:
    from msc_nlp import corpus

    if args.style:
        from msc_nlp.style import style_markdown

        table = style_markdown(corpus.style_collections(Path(args.root)))
        print(table, end="")
        if args.markdown:
            Path(args.markdown).write_text(table, encoding="utf-8")
        return EXIT_OK
    if args.markdown:
        Path(args.markdown).write_text(corpus.statistics_markdown(Path(args.root)), encoding="utf-8")
    print(json.dumps(corpus.statistics(Path(args.root)), indent=2, sort_keys=True))
    return EXIT_OK


def _annotations_check(args: argparse.Namespace) -> int:
    from msc_nlp import corpus

    report = corpus.check(Path(args.root), [Path(p) for p in args.paths] or None)
    for error in report.errors:
        print(f"ERROR {error}")
    for kind, messages in report.warnings.items():
        if args.all_warnings:
            for message in messages:
                print(f"WARN  {kind}: {message}")
        print(f"warnings {kind}: {len(messages)}")
    print(f"{report.documents} documents, {len(report.errors)} errors")
    return EXIT_OK if report.ok else EXIT_SOME_FAILED


ANNOTATION_ACTIONS = {"check": _annotations_check, "build": _annotations_build, "split": _annotations_split,
                      "stats": _annotations_stats, "agreement": _annotations_agreement, "import": _annotations_import}


def _annotations(args: argparse.Namespace) -> int:
    return ANNOTATION_ACTIONS[args.action](args)


def _train(args: argparse.Namespace) -> int:
    from msc_nlp.config import TrainConfig
    from msc_nlp.train import train

    config = TrainConfig.load(args.config, args.overrides)
    result = train(config, progress=not args.quiet)
    print(json.dumps({"output_dir": result.output_dir, "best_epoch": result.best_epoch,
                      "dev_strict_micro_f1": result.dev_f1, "seconds": round(result.seconds, 1)}, indent=2))
    return EXIT_OK


def _evaluation_sets(args: argparse.Namespace) -> dict:
    """Gold documents to score: ``--data`` files, or each ``--split`` (default: both frozen test splits)."""
    from msc_nlp import corpus

    if args.data:
        return {"data": [doc for path in args.data for doc in corpus.load_corpus(Path(path))]}
    root = Path(args.corpus)
    splits = args.split or [s for s in corpus.TEST_SPLITS if (root / "splits" / f"{s}.txt").exists()]
    return {split: corpus.load_split(root, split) for split in splits}


def _evaluate(args: argparse.Namespace) -> int:
    from msc_nlp.evaluate import evaluate

    sets = _evaluation_sets(args)
    tagger = None
    if not args.predictions:
        from msc_nlp.predict import Tagger

        model_dir = Path(args.model) if args.model else default_model()
        tagger = Tagger.load(model_dir, num_threads=args.threads, repair_spans=not args.no_repair)
    results = {}
    for name, gold in sets.items():
        if tagger is None:
            predictions, system = _predictions_from_file(Path(args.predictions), gold), args.predictions
        else:
            predictions, system = tagger.predict([doc.text for doc in gold]), str(model_dir)
        result = evaluate(gold, predictions, resamples=args.resamples)
        result["system"] = system
        results[name] = result
        if args.record:
            if args.predictions or args.data:
                raise MscNlpError("--record stores figures of a model on a corpus split: use it with --model and --split")
            from msc_nlp.model import record_metadata

            record_metadata(model_dir, {name: {k: result[k] for k in ("documents", "strict", "lenient", "token")}})
    if len(results) == 1:
        (name, result), = results.items()
        _write_reports(result, args.out, args.markdown, f"Evaluation of {result['system']} on {name}")
    else:
        _write_split_reports(results, args.out, args.markdown)
    return EXIT_OK


def _write_split_reports(results: dict, out: str | None, markdown: str | None) -> None:
    """Side-by-side strict F1 per split on the console; JSON ``{split: result}`` and one Markdown file."""
    from msc_nlp.evaluate import markdown_report

    names = list(results)
    labels = list(next(iter(results.values()))["strict"]["per_type"])
    print("strict F1 " + " ".join(f"{n:>16}" for n in names))
    for label in labels + ["micro"]:
        row = [results[n]["strict"]["micro" if label == "micro" else "per_type"] for n in names]
        values = [r["f1"] if label == "micro" else r[label]["f1"] for r in row]
        print(f"{label:<10}" + " ".join(f"{v:>16.3f}" for v in values))
    print("false facts per document without cell therapy "
          + ", ".join(f"{n}: {results[n]['no_cell_therapy']['per_document']:.2f} "
                      f"({results[n]['no_cell_therapy']['documents']} documents)" for n in names))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text("".join(markdown_report(r, f"{r['system']} on {n}") for n, r in results.items()),
                                  encoding="utf-8")


def _predictions_from_file(path: Path, gold) -> list:
    """Spans per gold document from a tagging output file (matched by id; texts must agree)."""
    from msc_nlp.document import Span
    from msc_nlp.jsonl import iter_jsonl

    found = {}
    for number, record in iter_jsonl(path):
        entities = record.get("entities", record.get("spans", []))
        found[str(record.get("id"))] = (number, record.get("text"),
                                        [Span(int(e["start"]), int(e["end"]), e["label"]) for e in entities])
    predictions = []
    for doc in gold:
        if doc.id not in found:
            raise MscNlpError(f"{path}: no prediction for document {doc.id}")
        number, text, spans = found[doc.id]
        if text is not None and text != doc.text:
            raise MscNlpError(f"{path}: line {number}: text of {doc.id} differs from the gold text; "
                              "offsets cannot be compared")
        predictions.append(spans)
    return predictions


def _write_reports(result: dict, out: str | None, markdown: str | None, title: str) -> None:
    from msc_nlp.evaluate import markdown_report

    summary = {mode: {"micro_f1": result[mode]["micro"]["f1"], "macro_f1": result[mode]["macro"]["f1"],
                      **{label: row["f1"] for label, row in result[mode]["per_type"].items()}}
               for mode in ("strict", "lenient")}
    print(json.dumps(summary, indent=2))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(markdown_report(result, title), encoding="utf-8")


def _baseline(args: argparse.Namespace) -> int:
    from msc_nlp import baselines, corpus
    from msc_nlp.evaluate import evaluate

    root = Path(args.corpus)
    train_docs = corpus.load_split(root, "train")
    gold = corpus.load_split(root, args.split)
    tagger = baselines.build(args.name, train_docs)
    predictions = tagger.predict([doc.text for doc in gold])
    result = evaluate(gold, predictions, resamples=args.resamples)
    result["system"] = f"baseline:{args.name}"
    _write_reports(result, args.out, args.markdown, f"Baseline {args.name} on {args.split}")
    return EXIT_OK


def _tag(args: argparse.Namespace) -> int:
    from msc_nlp.inputs import expand_paths, iter_records
    from msc_nlp.jsonl import check_output_path
    from msc_nlp.predict import Tagger
    from msc_nlp.tagging import tag_records

    inputs = [Path(p) for p in args.inputs]
    if not expand_paths(inputs):  # checked before the model loads: a usage error leaves nothing behind
        raise MscNlpError(f"no_inputs: no input files in {', '.join(map(str, inputs))} "
                          "(hidden files are skipped); name PubMed XML, MEDLINE, JSONL or text files or folders")
    for path in (args.output, args.csv, args.html):
        if path:
            check_output_path(Path(path))
    model_dir = Path(args.model) if args.model else default_model()
    tagger = Tagger.load(model_dir, num_threads=args.threads, batch_size=args.batch_size)
    records = iter_records(inputs, args.format)
    summary = tag_records(records, tagger, Path(args.output), progress=not args.quiet, resume=args.resume,
                          buffer_size=args.buffer_size)
    _write_extra_outputs(args)
    print(summary_line(summary, args.output), file=sys.stderr)
    for status, lines in sorted(summary.examples.items()):
        count = summary.errors if status == "error" else summary.skipped[status]
        print(f"  {plural(count, 'record')} {status}, e.g.:", file=sys.stderr)
        for line in lines:
            print(f"    {line}", file=sys.stderr)
    return exit_code(summary)


def exit_code(summary) -> int:
    """0 when every record is ok or skipped with a reason, 1 when some failed, 2 when none was tagged or counts disagree."""
    if not summary.balanced:
        print("error: record counts do not add up; the output cannot be trusted", file=sys.stderr)
        return EXIT_NOTHING_TRUSTWORTHY
    if summary.errors:
        return EXIT_SOME_FAILED if summary.ok else EXIT_NOTHING_TRUSTWORTHY
    return EXIT_OK


def plural(count: int, noun: str) -> str:
    """``1 record``, ``2 records``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary_line(summary, output: str) -> str:
    """One line of counts for the end of a tagging run, e.g. ``58 records: 56 ok, 1 error, ...``."""
    skipped = sum(summary.skipped.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items()))
    return (f"{plural(summary.total, 'record')}: {summary.ok} ok, {plural(summary.errors, 'error')}, {skipped} skipped"
            + (f" ({reasons})" if reasons else "")
            + (f"; {summary.resumed} taken from the interrupted run" if summary.resumed else "") + f" -> {output}")


def _write_extra_outputs(args: argparse.Namespace) -> None:
    from msc_nlp import writers

    if not (args.csv or args.brat or args.html):
        return
    records = writers.read_output(Path(args.output))
    if args.csv:
        writers.write_csv(records, Path(args.csv))
    if args.brat:
        writers.write_brat(records, Path(args.brat))
    if args.html:
        writers.write_html(records, Path(args.html))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``msc-nlp`` and its subcommands."""
    parser = argparse.ArgumentParser(prog="msc-nlp", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything (debug), library load reports too")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, errors only")
    commands = parser.add_subparsers(dest="command", required=True)

    annotations = commands.add_parser("annotations", help="build, split, check and count the corpus")
    annotations.add_argument("action", choices=list(ANNOTATION_ACTIONS))
    annotations.add_argument("paths", nargs="*", help="check: JSONL files (default: the whole corpus); "
                             "agreement: second-pass markup files; import: files or folders to import")
    annotations.add_argument("--out", help="agreement: JSON report path; import: canonical JSONL to write")
    annotations.add_argument("--from", dest="source_format", choices=["brat", "labelstudio", "prodigy"],
                             help="import: the tool the annotations come from")
    annotations.add_argument("--label-map", nargs="*", default=[], metavar="FROM=TO",
                             help="import: rename labels, e.g. Cell=CELL_TYPE")
    annotations.add_argument("--markdown", help="agreement, stats: Markdown report path")
    annotations.add_argument("--style", action="store_true",
                             help="stats: real-text style shares (number forms, dose density, eligibility ...) "
                                  "for corpus v1, the v2 additions, test-real-style and the whole corpus")
    annotations.add_argument("--root", default=str(DEFAULT_ANNOTATIONS), help="annotations folder")
    annotations.add_argument("--all-warnings", action="store_true", help="check: print every warning, not only counts")
    annotations.set_defaults(handler=_annotations)

    train = commands.add_parser("train", help="fine-tune a token classifier")
    train.add_argument("--config", help="TOML file of training options")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="option overrides, e.g. epochs=3")
    train.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="score a model or a predictions file against gold")
    source = evaluate.add_mutually_exclusive_group()
    source.add_argument("--model", help="model folder (default: the shipped model)")
    source.add_argument("--predictions", help="tagging output JSONL to score instead of running a model")
    evaluate.add_argument("--data", nargs="*", help="gold JSONL files (default: --split of --corpus)")
    evaluate.add_argument("--corpus", default=str(DEFAULT_ANNOTATIONS))
    evaluate.add_argument("--split", nargs="+", help="corpus split(s) to score (default: test and test-real-style)")
    evaluate.add_argument("--no-repair", action="store_true",
                          help="score raw decoded spans, without span repair (for ablations)")
    evaluate.add_argument("--out", help="JSON report path")
    evaluate.add_argument("--markdown", help="Markdown report path")
    evaluate.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for 95%% CIs")
    evaluate.add_argument("--threads", type=int, default=0)
    evaluate.add_argument("--record", action="store_true",
                          help="store the figures in the model's msc_nlp.json under the split's name")
    evaluate.set_defaults(handler=_evaluate)

    baseline = commands.add_parser("baseline", help="train a baseline on the train split and score it")
    baseline.add_argument("name", choices=["dictionary", "crf"])
    baseline.add_argument("--corpus", default=str(DEFAULT_ANNOTATIONS))
    baseline.add_argument("--split", default="test")
    baseline.add_argument("--out")
    baseline.add_argument("--markdown")
    baseline.add_argument("--resamples", type=int, default=1000)
    baseline.set_defaults(handler=_baseline)

    tag = commands.add_parser(
        "tag", help="tag abstracts (JSONL, text, PubMed XML, MEDLINE)",
        description="Exit codes: 0 all records ok or skipped with a reason; 1 some records failed "
                    "(outputs written, see OUT.errors.jsonl); 2 nothing trustworthy written.")
    tag.add_argument("inputs", nargs="+", help="input files or folders")
    tag.add_argument("-o", "--output", required=True, help="output JSONL")
    tag.add_argument("--model", help="model folder (default: $MSC_NLP_MODEL or the shipped models/msc-ner)")
    tag.add_argument("--format", default="auto", choices=["auto", "jsonl", "text", "pubmed", "medline"])
    tag.add_argument("--batch-size", type=int, default=2, help="windows per forward pass (2 was fastest on 2 cores)")
    tag.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores available)")
    tag.add_argument("--buffer-size", type=int, default=256, help="records per length-sorted buffer")
    tag.add_argument("--resume", action="store_true", help="continue an interrupted run from OUTPUT.partial")
    tag.add_argument("--csv", help="also write one CSV row per entity to this file")
    tag.add_argument("--brat", help="also write BRAT standoff (.txt/.ann pairs) into this folder")
    tag.add_argument("--html", help="also write an HTML report with highlighted entities and charts")
    tag.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar")
    tag.set_defaults(handler=_tag)
    __import__("msc_nlp.fetch").fetch.add_parser(commands)
    return parser


def configure_logging(verbose: bool, quiet: bool, command: str) -> None:
    """Quiet by default: warnings only (``train`` also reports its epochs); ``-v`` shows everything.

    Without ``-v`` the load reports and "Loading weights" bars of transformers and the INFO lines
    of ONNX Runtime's quantizer are silenced; ``-q`` keeps errors only.
    """
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.ERROR
    else:
        level = logging.INFO if command == "train" else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        if "transformers" in sys.modules:
            from transformers.utils import logging as transformers_logging

            transformers_logging.set_verbosity_error()
            transformers_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``msc-nlp``; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet, args.command)
    try:
        return args.handler(args)
    except MscNlpError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOTHING_TRUSTWORTHY
    except FileNotFoundError as error:
        print(f"error: {error.filename}: no such file or folder", file=sys.stderr)
        return EXIT_NOTHING_TRUSTWORTHY


if __name__ == "__main__":
    raise SystemExit(main())
