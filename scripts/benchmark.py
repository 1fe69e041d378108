#!/usr/bin/env python
"""Throughput, memory and quality of msc_nlp's tagging paths against the transformers pipeline.

Tags the same N abstracts (default 500: corpus documents, then the examples, repeated if needed)
with, each in its own process so that peak RSS is its own:

  (a) the transformers token-classification pipeline on the same model
      (aggregation_strategy="first", stride on) at batch size 1 and 16;
  (b) msc_nlp's default path (length-sorted windows, torch, SDPA attention);
  (c) msc_nlp's ONNX Runtime int8 path (and fp32 for reference).

For each it prints abstracts/s, word-pieces/s, peak RSS, strict micro F1 on the frozen test
split, the speed ratio to the faster pipeline setting, and the model FLOP rate achieved as a
fraction of this CPU's fp32 (and int8) matmul rate, measured in the same run. A second part
measures the parse-and-batch path alone (no model) on generated baseline-sized ``.xml.gz`` files
of 1,000 and 30,000 records and prints their peak RSS and ratio (memory must stay flat).

Usage:  python scripts/benchmark.py [--model models/msc-ner] [--n 500] [--skip-memory]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ["pipeline_b1", "pipeline_b16", "msc_nlp", "onnx_int8", "onnx_fp32"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_texts(n: int) -> list[str]:
    from msc_nlp.corpus import load_corpus
    from msc_nlp.inputs import iter_records

    texts = [d.text for d in load_corpus(ROOT / "annotations")]
    texts += [r.text for r in iter_records([ROOT / "examples"]) if r.status == "ok"]
    return [texts[i % len(texts)] for i in range(n)]


def model_flops(config: dict, lengths: list[int]) -> float:
    """Multiply-add FLOPs (2 per MAC) of a BERT encoder + token head over windows of these lengths."""
    h, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    labels = len(config["id2label"])
    total = 0.0
    for n in lengths:
        per_layer = 2 * n * (4 * h * h + 2 * h * inner) + 2 * 2 * n * n * h
        total += layers * per_layer + 2 * n * h * labels
    return total


def window_lengths(model_dir: Path, texts: list[str], max_length: int = 512, stride: int = 128) -> list[int]:
    from tokenizers import Tokenizer

    from msc_nlp.preprocess import encode, make_windows

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    return [len(w.input_ids) for w in make_windows(tokenizer, encode(tokenizer, texts), max_length, stride)]


def pipeline_predict(model_dir: Path, batch_size: int):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    from msc_nlp.document import Span

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir), dtype="float32")
    tagger = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first",
                      stride=128, device="cpu")

    def predict(texts):
        results = []
        for output in tagger(texts, batch_size=batch_size):
            results.append([Span(e["start"], e["end"], e["entity_group"]) for e in output])
        return results

    return predict


def make_tagger(system: str, model_dir: Path):
    if system.startswith("pipeline"):
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        return pipeline_predict(model_dir, 1 if system == "pipeline_b1" else 16)
    if system == "msc_nlp":
        from msc_nlp.predict import Tagger

        return Tagger.load(model_dir).predict
    from msc_nlp.onnx_export import OnnxTagger, cached_export

    onnx_dir = cached_export(model_dir)
    return OnnxTagger(onnx_dir, int8=system == "onnx_int8").predict


def run_system(system: str, model_dir: Path, n: int) -> dict:
    """Runs in a child process: tag the N abstracts, then the test split; report figures."""
    from msc_nlp.corpus import load_split
    from msc_nlp.evaluate import evaluate

    texts = load_texts(n)
    started = time.perf_counter()
    predict = make_tagger(system, model_dir)
    load_seconds = time.perf_counter() - started
    predict(texts[:4])  # warm-up
    started = time.perf_counter()
    predict(texts)
    seconds = time.perf_counter() - started
    test = load_split(ROOT / "annotations", "test")
    scores = evaluate(test, predict([d.text for d in test]), resamples=0)["strict"]["micro"]["f1"]
    return {"system": system, "seconds": seconds, "load_seconds": load_seconds, "abstracts_per_s": n / seconds,
            "peak_rss_mb": peak_rss_mb(), "test_strict_micro_f1": scores}


def matmul_rates() -> dict:
    """fp32 (torch) and int8 (ONNX Runtime dynamic quantization) matmul rates of this CPU, GFLOP/s."""
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    m, k, n = 2048, 384, 1536
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    repeats, started = 50, time.perf_counter()
    for _ in range(repeats):
        a @ b
    fp32 = 2 * m * k * n * repeats / (time.perf_counter() - started) / 1e9
    weight = numpy_helper.from_array(np.random.randn(k, n).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "mm",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n])], [weight])
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "mm.onnx", Path(scratch) / "mm.int8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(source))
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
        session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        x = np.random.randn(m, k).astype(np.float32)
        for _ in range(3):
            session.run(None, {"X": x})
        started = time.perf_counter()
        for _ in range(repeats):
            session.run(None, {"X": x})
        int8 = 2 * m * k * n * repeats / (time.perf_counter() - started) / 1e9
    return {"fp32_gflops": fp32, "int8_gflops": int8}


def write_pubmed_gz(path: Path, records: int) -> None:
    """A baseline-like PubMed XML file of generated records (for the memory measurement only)."""
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n')
        for i in range(records):
            handle.write(
                f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{10_000_000 + i}</PMID>'
                f'<Article PubModel="Print"><ArticleTitle>Record {i} on cell therapy.</ArticleTitle><Abstract>'
                f'<AbstractText Label="METHODS" NlmCategory="METHODS">Patients received {i % 9 + 1} × 10<sup>6</sup> '
                f'cells/kg by intracoronary infusion {i % 7 + 2} days after PCI. ' + "Filler text of the study. " * 40 +
                '</AbstractText><AbstractText Label="RESULTS" NlmCategory="RESULTS">LVEF improved. '
                + "More words of results. " * 30 + "</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>\n")
        handle.write("</PubmedArticleSet>\n")


def run_parse(path: Path, model_dir: Path) -> dict:
    """Child process: stream records, encode and window them in bounded buffers, no model."""
    from tokenizers import Tokenizer

    from msc_nlp.inputs import iter_records
    from msc_nlp.preprocess import encode, make_windows

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    started, count, windows, buffer = time.perf_counter(), 0, 0, []
    for record in iter_records([path]):
        count += 1
        buffer.append(record.text)
        if len(buffer) == 256:
            windows += len(make_windows(tokenizer, encode(tokenizer, buffer), 512, 128))
            buffer = []
    windows += len(make_windows(tokenizer, encode(tokenizer, buffer), 512, 128)) if buffer else 0
    return {"records": count, "windows": windows, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def child(args: list[str]) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "msc-ner")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--parse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_system(args.child, args.model, args.n)))
        return
    if args.parse:
        print(json.dumps(run_parse(args.parse, args.model)))
        return

    config = json.loads((args.model / "config.json").read_text())
    texts = load_texts(args.n)
    lengths = window_lengths(args.model, texts)
    flops = model_flops(config, lengths)
    pieces = sum(lengths)
    rates = matmul_rates()
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, {platform.processor() or 'cpu'}; "
          f"python {platform.python_version()}")
    print(f"matmul rate: fp32 {rates['fp32_gflops']:.1f} GFLOP/s, int8 {rates['int8_gflops']:.1f} GFLOP/s; "
          f"model: {flops / args.n / 1e9:.2f} GFLOP and {pieces / args.n:.0f} word-pieces per abstract; "
          f"ceilings {rates['fp32_gflops'] * 1e9 * args.n / flops:.1f} abstracts/s fp32, "
          f"{rates['int8_gflops'] * 1e9 * args.n / flops:.1f} int8")
    results = []
    for system in args.systems.split(","):
        results.append(child(["--child", system, "--model", str(args.model), "--n", str(args.n)]))
        print(f"  done {system}: {results[-1]['abstracts_per_s']:.2f} abstracts/s", file=sys.stderr)
    pipelines = [r for r in results if r["system"].startswith("pipeline")]
    best_pipeline = max((r["abstracts_per_s"] for r in pipelines), default=None)
    print(f"\n{'system':<14}{'abstr/s':>9}{'pieces/s':>10}{'peak MB':>9}{'test F1':>9}{'x pipeline':>12}"
          f"{'% fp32 peak':>13}{'% int8 peak':>13}")
    for r in results:
        achieved = flops / r["seconds"] / 1e9
        ratio = f"{r['abstracts_per_s'] / best_pipeline:.2f}" if best_pipeline else "-"
        int8 = f"{100 * achieved / rates['int8_gflops']:.0f}%" if r["system"] == "onnx_int8" else ""
        print(f"{r['system']:<14}{r['abstracts_per_s']:>9.2f}{pieces / r['seconds']:>10.0f}{r['peak_rss_mb']:>9.0f}"
              f"{r['test_strict_micro_f1']:>9.4f}{ratio:>12}{100 * achieved / rates['fp32_gflops']:>12.0f}%{int8:>13}")
    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as scratch:
            small, large = Path(scratch) / "small.xml.gz", Path(scratch) / "large.xml.gz"
            write_pubmed_gz(small, 1_000)
            write_pubmed_gz(large, 30_000)
            a = child(["--parse", str(small), "--model", str(args.model)])
            b = child(["--parse", str(large), "--model", str(args.model)])
        print(f"\nparse-and-batch (no model): 1,000 records peak RSS {a['peak_rss_mb']:.0f} MB "
              f"({a['records'] / a['seconds']:.0f} records/s); 30,000 records peak RSS {b['peak_rss_mb']:.0f} MB "
              f"({b['records'] / b['seconds']:.0f} records/s); ratio {b['peak_rss_mb'] / a['peak_rss_mb']:.3f}")


if __name__ == "__main__":
    main()
