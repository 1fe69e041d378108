#!/usr/bin/env python
"""Tag abstracts on the CPU without the CLI: a thin wrapper over the msc_nlp library.

Examples:
    python scripts/tag_cpu.py examples/ -o out/tagged.jsonl
    python scripts/tag_cpu.py examples/ -o out/tagged.jsonl --onnx          # int8 ONNX Runtime
    python scripts/tag_cpu.py abstracts.jsonl -o tagged.jsonl --onnx --fp32 # fp32 ONNX Runtime

With ``--onnx`` the model is exported (once) to the user cache (``~/.cache/msc_nlp/onnx/<model>-<weights
checksum>``, or ``$MSC_NLP_CACHE``; the model folder may be read-only) with ``torch.onnx.export`` and
quantized to int8 with ``onnxruntime.quantization.quantize_dynamic``; tokenisation, windows,
merging and decoding are the library's own, so offsets and output format are the same as
``msc-nlp tag``. Exit codes as for ``msc-nlp tag``: 0 all ok, 1 some records failed, 2 failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from msc_nlp.cli import EXIT_NOTHING_TRUSTWORTHY, configure_logging, default_model, exit_code, summary_line
    from msc_nlp.errors import MscNlpError
    from msc_nlp.inputs import expand_paths, iter_records
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
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet, "tag")
    model_dir = args.model or default_model()
    try:
        inputs = [Path(p) for p in args.inputs]
        if not expand_paths(inputs):
            raise MscNlpError(f"no_inputs: no input files in {', '.join(map(str, inputs))}")
        if args.onnx:
            from msc_nlp.onnx_export import OnnxTagger, cached_export

            tagger = OnnxTagger(cached_export(model_dir), int8=not args.fp32, batch_size=args.batch_size,
                                num_threads=args.threads or None)
        else:
            from msc_nlp.predict import Tagger

            tagger = Tagger.load(model_dir, num_threads=args.threads or None, batch_size=args.batch_size)
        summary = tag_records(iter_records(inputs), tagger, Path(args.output), progress=not args.quiet,
                              resume=args.resume)
    except MscNlpError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOTHING_TRUSTWORTHY
    print(summary_line(summary, args.output), file=sys.stderr)
    return exit_code(summary)


if __name__ == "__main__":
    raise SystemExit(main())
