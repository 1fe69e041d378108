"""train -> save -> load -> tag with a tiny random model, including the overfit test."""

from __future__ import annotations

import json

import pytest

from conftest import TWO_DOCUMENTS
from msc_nlp.config import TrainConfig
from msc_nlp.errors import ModelError, MscNlpError
from msc_nlp.model import load_model, read_metadata
from msc_nlp.predict import Tagger


def test_overfit_model_tags_training_documents_exactly(overfit_model):
    tagger = Tagger.load(overfit_model)
    predictions = tagger.predict([doc.text for doc in TWO_DOCUMENTS])
    for doc, spans in zip(TWO_DOCUMENTS, predictions):
        assert [(s.start, s.end, s.label) for s in spans] == [(s.start, s.end, s.label) for s in doc.spans]
        for span in spans:
            assert 0.0 <= span.score <= 1.0


def test_empty_and_whitespace_documents(overfit_model):
    tagger = Tagger.load(overfit_model)
    assert tagger.predict(["", "   \n\n  "]) == [[], []]


def test_batch_size_does_not_change_output(overfit_model):
    texts = [doc.text for doc in TWO_DOCUMENTS] * 3 + ["MSCs were given.", "No entity here at all."]
    one = Tagger.load(overfit_model, batch_size=1).predict(texts)
    eight = Tagger.load(overfit_model, batch_size=8).predict(texts)
    assert [[(s.start, s.end, s.label, s.score) for s in spans] for spans in one] == \
           [[(s.start, s.end, s.label, s.score) for s in spans] for spans in eight]


def test_saved_model_has_labels_config_and_metadata(overfit_model):
    config = json.loads((overfit_model / "config.json").read_text())
    assert config["id2label"]["1"] == "B-CELL_TYPE"
    metadata = read_metadata(overfit_model)
    assert metadata["training_config"]["epochs"] == 80
    assert len(metadata["training_data_sha256"]) == 64
    assert not list(overfit_model.glob("*.bin")) and not list(overfit_model.glob("*.pt"))


def test_reloading_model_with_other_labels_fails(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["id2label"]["1"] = "B-DRUG"
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="differ from the schema"):
        load_model(model_copy)


def test_model_without_safetensors_is_refused(model_copy):
    (model_copy / "model.safetensors").rename(model_copy / "pytorch_model.bin")
    with pytest.raises(ModelError, match="safetensors"):
        load_model(model_copy)


def test_half_precision_save_loads_as_float32(tiny_base, tmp_path):
    import torch

    config = TrainConfig(base_model=str(tiny_base), output_dir=str(tmp_path / "m"), epochs=1, batch_size=2,
                         max_length=64, stride=16, half=True)
    from msc_nlp.train import train

    result = train(config, train_docs=TWO_DOCUMENTS, dev_docs=TWO_DOCUMENTS[:1])
    assert result.best_epoch == 1
    _, model = load_model(tmp_path / "m")
    assert next(model.parameters()).dtype == torch.float32
    assert (tmp_path / "m" / "training_config.json").exists()


def test_training_is_reproducible(tiny_base, tmp_path):
    from msc_nlp.train import train

    outputs = []
    for name in ("a", "b"):
        config = TrainConfig(base_model=str(tiny_base), output_dir=str(tmp_path / name), epochs=2, batch_size=1,
                             max_length=64, stride=16, half=False)
        train(config, train_docs=TWO_DOCUMENTS, dev_docs=TWO_DOCUMENTS)
        outputs.append((tmp_path / name / "model.safetensors").read_bytes())
    assert outputs[0] == outputs[1]


def test_config_overrides_and_errors(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('[train]\nepochs = 3\nbase_model = "minilm"\n')
    config = TrainConfig.load(path, ["learning_rate=2e-5", "output_dir=out/x", "extra_train=['a.jsonl']"])
    assert (config.epochs, config.learning_rate, config.output_dir, config.extra_train) == (3, 2e-5, "out/x", ["a.jsonl"])
    with pytest.raises(MscNlpError, match="unknown training option"):
        TrainConfig.load(path, ["epoch=3"])
    with pytest.raises(MscNlpError, match="'epochs' must be int"):
        TrainConfig.load(path, ["epochs='many'"])


def test_extra_training_file_with_bad_span_names_line(tmp_path):
    from msc_nlp.train import load_extra

    path = tmp_path / "extra.jsonl"
    good = TWO_DOCUMENTS[0].to_json()
    bad = dict(good, id="bad", spans=[{"start": 0, "end": 999, "label": "DOSE"}])
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(MscNlpError, match="extra.jsonl: line 2: document bad"):
        load_extra([str(path)])


def test_without_dev_documents_the_last_epoch_is_kept(tiny_base, tmp_path):
    from msc_nlp.train import train

    config = TrainConfig(base_model=str(tiny_base), output_dir=str(tmp_path / "m"), epochs=3, batch_size=2,
                         max_length=64, stride=16, half=False, dev_split="")
    result = train(config, train_docs=TWO_DOCUMENTS)
    assert result.best_epoch == 3 and len(result.history) == 3


def test_training_documents_join_splits_and_extra_files(tmp_path):
    from pathlib import Path

    from msc_nlp.train import training_documents

    root = Path(__file__).resolve().parent.parent / "annotations"
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps(TWO_DOCUMENTS[0].to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
    train_only = training_documents(TrainConfig(corpus=str(root)))
    joined = training_documents(TrainConfig(corpus=str(root), train_split="train+dev", extra_train=[str(extra)]))
    dev = training_documents(TrainConfig(corpus=str(root), train_split="dev"))
    assert len(joined) == len(train_only) + len(dev) + 1
    assert joined[-1].id == "d1"


def test_continued_training_with_augmentation_runs_and_keeps_labels(overfit_model, tmp_path):
    from msc_nlp.train import train

    config = TrainConfig(init_from=str(overfit_model), output_dir=str(tmp_path / "continued"), epochs=1,
                         batch_size=2, max_length=64, stride=16, eval_max_length=128, eval_stride=32,
                         augment_probability=1.0, dev_split="", learning_rate=1e-5, half=False)
    result = train(config, train_docs=TWO_DOCUMENTS, dev_docs=[])
    assert result.best_epoch == 1
    tagger = Tagger.load(tmp_path / "continued")
    predictions = tagger.predict([doc.text for doc in TWO_DOCUMENTS])
    # one small-step epoch from an overfit model keeps what it knew
    assert [(s.start, s.end, s.label) for s in predictions[0]] == [(s.start, s.end, s.label) for s in TWO_DOCUMENTS[0].spans]
