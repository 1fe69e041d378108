"""The ONNX Runtime path: same spans as torch in fp32; int8 gated on entity F1 (slow test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TWO_DOCUMENTS
from msc_nlp.evaluate import evaluate
from msc_nlp.onnx_export import OnnxTagger, export
from msc_nlp.predict import Tagger

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def exported(overfit_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    export(overfit_model, out)
    return out


def test_fp32_onnx_matches_torch(overfit_model, exported):
    texts = [d.text for d in TWO_DOCUMENTS] + ["", "word " * 700 + "MSCs were given intravenously."]
    torch_spans = Tagger.load(overfit_model).predict(texts)
    onnx_spans = OnnxTagger(exported, int8=False).predict(texts)
    assert [[(s.start, s.end, s.label) for s in d] for d in onnx_spans] == \
           [[(s.start, s.end, s.label) for s in d] for d in torch_spans]


def test_int8_graph_is_smaller_and_tags(exported):
    assert (exported / "model.int8.onnx").stat().st_size < (exported / "model.onnx").stat().st_size
    spans = OnnxTagger(exported, int8=True).predict([d.text for d in TWO_DOCUMENTS])
    assert len(spans) == 2


def test_onnx_process_does_not_import_torch(exported):
    code = ("import sys; from msc_nlp.onnx_export import OnnxTagger; "
            f"OnnxTagger({str(exported)!r}).predict(['MSCs']); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_int8_within_one_point_of_fp32_on_test_split(tmp_path):
    """Gate for the shipped model: int8 strict micro F1 within 1 point of fp32 on the frozen test split."""
    from msc_nlp.corpus import load_split

    model = ROOT / "models" / "msc-ner"
    export(model, tmp_path)
    test = load_split(ROOT / "annotations", "test")
    texts = [d.text for d in test]
    fp32 = evaluate(test, Tagger.load(model).predict(texts), resamples=0)["strict"]["micro"]["f1"]
    int8 = evaluate(test, OnnxTagger(tmp_path, int8=True).predict(texts), resamples=0)["strict"]["micro"]["f1"]
    assert fp32 - int8 <= 0.01, (fp32, int8)


def test_cached_export_leaves_a_read_only_model_folder_alone(overfit_model, tmp_path, monkeypatch):
    import shutil
    import stat

    from msc_nlp import onnx_export

    model = tmp_path / "installed-model"
    shutil.copytree(overfit_model, model)
    before = sorted(p.name for p in model.iterdir())
    model.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        folder = onnx_export.cached_export(model, cache=tmp_path / "cache")
        assert (folder / "model.int8.onnx").exists() and folder.parent == tmp_path / "cache" / "onnx"
        assert onnx_export.weights_digest(model) in folder.name
        assert sorted(p.name for p in model.iterdir()) == before
        monkeypatch.setattr(onnx_export, "export", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-export")))
        assert onnx_export.cached_export(model, cache=tmp_path / "cache") == folder  # second use: from the cache
        assert not list((tmp_path / "cache" / "onnx").glob(".export-*"))
    finally:
        model.chmod(stat.S_IRWXU)
