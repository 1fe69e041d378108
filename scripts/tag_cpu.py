#!/usr/bin/env python
"""Tag abstracts on the CPU without the CLI: a thin wrapper over the msc_nlp library.

Examples:
    python scripts/tag_cpu.py examples/ -o out/tagged.jsonl
    python scripts/tag_cpu.py examples/ -o out/tagged.jsonl --onnx          # int8 ONNX Runtime
    python scripts/tag_cpu.py abstracts.jsonl -o tagged.jsonl --onnx --fp32 # fp32 ONNX Runtime

With ``--onnx`` the model is exported (once) to ``<model>/onnx`` with ``torch.onnx.export`` and
quantized to int8 with ``onnxruntime.quantization.quantize_dynamic``; tokenisation, windows,
merging and decoding are the library's own, so offsets and output format are the same as
``msc-nlp tag``. Exit codes as for ``msc-nlp tag``: 0 all ok, 1 some records failed, 2 failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from msc_nlp.cli import default_model
    from msc_nlp.errors import MscNlpError
    from msc_nlp.inputs import iter_records
    from msc_nlp.tagging import tag_records

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="PubMed XML (.xml/.xml.gz), MEDLINE, JSONL or text files/folders")
    parser.add_argument("-o", "--output", required=True, help="output JSONL")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--onnx", action="store_true", help="run with ONNX Runtime (int8 unless --fp32)")
    parser.add_argument("--fp32", action="store_true", help="with --onnx: the fp32 graph instead of int8")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores this process may use")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model_dir = args.model or default_model()
    try:
        if args.onnx:
            from msc_nlp.onnx_export import INT8_FILE, OnnxTagger, export

            onnx_dir = model_dir / "onnx"
            if not (onnx_dir / INT8_FILE).exists():
                logging.info("exporting %s to ONNX (once) in %s", model_dir, onnx_dir)
                export(model_dir, onnx_dir)
            tagger = OnnxTagger(onnx_dir, int8=not args.fp32, batch_size=args.batch_size,
                                num_threads=args.threads or None)
        else:
            from msc_nlp.predict import Tagger

            tagger = Tagger.load(model_dir, num_threads=args.threads or None, batch_size=args.batch_size)
        summary = tag_records(iter_records([Path(p) for p in args.inputs]), tagger, Path(args.output),
                              progress=True, resume=args.resume)
    except MscNlpError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{summary.total} records: {summary.ok} ok, {summary.errors} errors, "
          f"{sum(summary.skipped.values())} skipped -> {args.output}", file=sys.stderr)
    return 1 if summary.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
