"""A Hugging Face model folder written by the REAL transformers `save_pretrained` (config.json + model.safetensors),
read by mmdistill's loaders as a user would pass it: the folder itself.

transformers 5 writes the hub's legacy key names (`encoder.layer.0.attention.attention.query.weight`) while its modules
name the same tensors `encoder.layer.0.attention.q_proj.weight`; `from_pretrained` renames them with
`transformers.conversion_mapping.get_model_conversion_mapping(model)`. A loader that reads the file as it is matches
everything but the attention."""
import pytest
import torch
from transformers import Dinov2Config, Dinov2Model

from mmdistill.core import CheckpointError, load_checkpoint
from mmdistill.finetune import EncoderClassifier, MLPHead, load_pretrained_encoder

CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    model = Dinov2Model(Dinov2Config(**CONFIG)).eval()
    out = tmp_path_factory.mktemp("hf") / "tiny-dinov2"
    model.save_pretrained(out)
    return out, model


def _fresh() -> Dinov2Model:
    torch.manual_seed(1)   # other weights than the saved model's
    return Dinov2Model(Dinov2Config(**CONFIG)).eval()


def _images():
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))


def test_save_pretrained_wrote_safetensors(folder):
    path, _ = folder
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_the_file_holds_legacy_names(folder):
    "The independent fact the loaders must deal with (if transformers stops renaming, this test says so)."
    path, model = folder
    from safetensors.torch import load_file
    saved = set(load_file(path / "model.safetensors"))
    assert "encoder.layer.0.attention.attention.query.weight" in saved
    assert "encoder.layer.0.attention.q_proj.weight" in model.state_dict()
    assert torch.equal(Dinov2Model.from_pretrained(path).state_dict()["encoder.layer.0.attention.q_proj.weight"],
                       model.state_dict()["encoder.layer.0.attention.q_proj.weight"])


def test_the_weights_file_never_loads_partly(folder):
    "The model.safetensors passed as a file: loaded right (the saved model's outputs), or refused; never the attention left random."
    path, model = folder
    fresh = _fresh()
    try: missing, unexpected = load_pretrained_encoder(fresh, path / "model.safetensors")
    except CheckpointError: return
    assert missing == [] and unexpected == [], f"loaded without {len(missing)} tensors: {missing[:3]}"
    with torch.no_grad():
        torch.testing.assert_close(fresh(_images()).last_hidden_state, model(_images()).last_hidden_state)


def test_load_checkpoint_reads_the_folder(folder):
    "The folder's tensors as saved (no target model to rename them for)."
    path, model = folder
    from safetensors.torch import load_file
    reference = load_file(path / "model.safetensors")
    state, meta = load_checkpoint(path, build=False)
    assert set(state) == set(reference)
    for k, v in reference.items(): assert torch.equal(state[k], v), k


def test_load_pretrained_encoder_reads_the_folder(folder):
    "The intended call: the folder, loaded into the encoder of an EncoderClassifier; features are the saved model's mean tokens."
    path, model = folder
    clf = EncoderClassifier(_fresh(), MLPHead(in_dim=32, n_classes=3), modality="img").eval()
    missing, unexpected = load_pretrained_encoder(clf.encoder, path)
    assert missing == [] and unexpected == []
    with torch.no_grad():
        expected = model(_images()).last_hidden_state.mean(1)
        torch.testing.assert_close(clf({"img": _images()})["features"], expected)
