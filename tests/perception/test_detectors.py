"""The OWLv2 / Grounding DINO adapter on tiny randomly initialised models built in code (no hub)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests.graph.scenes import Mover, render  # noqa: E402
from videothought.perception.detectors import (  # noqa: E402
    DetectorSettings,
    OpenVocabularyDetector,
    cxcywh_to_xyxy_pixels,
    preprocess_owl,
)
from videothought.perception.proposals import Proposer  # noqa: E402

WORDS = ["red", "circle", "blue", "square", "a", "person"]


def word_tokenizer(special: dict[str, int], vocab_size: int):
    """A word-level tokenizer (no downloads): special tokens at the given ids, then WORDS."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = dict(special)
    next_id = max(special.values()) + 1
    for word in WORDS + ["."]:
        if word not in vocab:
            vocab[word] = next_id
            next_id += 1
    assert next_id <= vocab_size
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                       pre_tokenizers.Punctuation()])
    return tokenizer


def tiny_owlv2():
    from transformers import Owlv2Config, Owlv2ForObjectDetection, PreTrainedTokenizerFast

    config = Owlv2Config(
        text_config=dict(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=8, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16),
        projection_dim=32)
    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(config)
    with torch.no_grad():  # an untrained box head: every patch predicts its own anchor box
        model.box_head.dense2.weight.zero_()
        model.box_head.dense2.bias.zero_()
    raw = word_tokenizer({"[PAD]": 0, "[BOS]": 1, "[EOS]": 2, "[UNK]": 3}, 32)
    from tokenizers import processors

    raw.post_processor = processors.TemplateProcessing(single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 1),
                                                                                                ("[EOS]", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="[BOS]", eos_token="[EOS]")
    return model, tokenizer


def tiny_grounding_dino():
    from transformers import (BertConfig, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              PreTrainedTokenizerFast, SwinConfig)

    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
                          window_size=4, out_features=["stage1", "stage2"])
    # Grounding DINO finds phrase boundaries by BERT's ids: [CLS]=101, [SEP]=102, "."=1012.
    text = BertConfig(vocab_size=1030, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=32)
    config = GroundingDinoConfig(backbone_config=backbone, text_config=text, d_model=32, num_queries=12,
                                 encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                                 encoder_attention_heads=2, decoder_attention_heads=2, num_feature_levels=2,
                                 encoder_n_points=2, decoder_n_points=2, max_text_len=16, use_timm_backbone=False)
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config)
    raw = word_tokenizer({"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, ".": 1012}, 1030)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]")
    return model, tokenizer


def frames():
    return render([Mover("red", "circle", (30, 40), (3, 0)), Mover("blue", "square", (120, 80), (-2, 0))], 3)[0]


@pytest.mark.parametrize("build", [tiny_owlv2, tiny_grounding_dino], ids=["owlv2", "grounding_dino"])
def test_detector_proposes_boxes_for_queries(build):
    model, tokenizer = build()
    settings = DetectorSettings(score_threshold=0.0, max_detections=5, image_size=64)
    detector = OpenVocabularyDetector(model, tokenizer, ["red circle", "blue square"], settings)
    assert isinstance(detector, Proposer)
    clip = frames()
    detections = detector.propose(clip)
    assert len(detections) == 3
    for frame_detections in detections:
        assert 1 <= len(frame_detections) <= 5
        scores = [d.score for d in frame_detections]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        for d in frame_detections:
            assert d.label in ("red circle", "blue square") and d.attributes == {"query": d.label}
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 120
            assert d.appearance is not None and abs(float(np.linalg.norm(d.appearance)) - 1) < 1e-5
    # The same frames give the same detections (eval mode, no randomness).
    again = detector.propose(clip)
    assert [[d.box for d in f] for f in again] == [[d.box for d in f] for f in detections]
    # A high threshold leaves nothing, and that is fine.
    strict = OpenVocabularyDetector(model, tokenizer, ["red circle"], DetectorSettings(score_threshold=1.0,
                                                                                       image_size=64))
    assert strict.propose(clip) == [[], [], []]


def test_owlv2_boxes_land_on_the_patch_grid_of_the_padded_square():
    model, tokenizer = tiny_owlv2()
    settings = DetectorSettings(score_threshold=0.0, max_detections=100, nms_iou=1.0)
    detections = OpenVocabularyDetector(model, tokenizer, ["red circle"], settings).propose(frames()[:1])[0]
    # 64-pixel input, 16-pixel patches: a 4x4 grid over the 160x160 padded square. OWL's anchors sit
    # at the patches' far corners ((i + 1) / 4 of the side: 40, 80, 120, 160 px) and are 40 px wide.
    # The row at y=160 lies below the 160x120 frame and is dropped; the rest is clipped to the frame.
    assert len(detections) == 12
    expected = sorted((max(0.0, cx - 20.0), cy - 20.0, min(160.0, cx + 20.0), min(120.0, cy + 20.0))
                      for cx in (40, 80, 120, 160) for cy in (40, 80, 120))
    assert np.allclose(sorted(d.box for d in detections), expected, atol=0.05)  # float32 sigmoid of the bias


def test_detector_as_the_pipeline_proposer():
    from videothought.perception.pipeline import track_frames

    model, tokenizer = tiny_owlv2()
    detector = OpenVocabularyDetector(model, tokenizer, ["a person"], DetectorSettings(score_threshold=0.0,
                                                                                       max_detections=3))
    stsg = track_frames(frames(), np.arange(3), fps=10.0, proposer=detector)
    assert stsg.to_dict()["schema"] == "videothought.stsg"
    assert all(stsg.track_info[t]["label"] == "a person" for t in stsg.track_ids)


def test_save_and_load_with_safetensors(tmp_path):
    model, tokenizer = tiny_owlv2()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    settings = DetectorSettings(score_threshold=0.0, max_detections=4)
    loaded = OpenVocabularyDetector.from_pretrained(tmp_path, ["red circle"], settings=settings)
    original = OpenVocabularyDetector(model, tokenizer, ["red circle"], settings)
    clip = frames()[:1]
    assert np.allclose([d.box for d in loaded.propose(clip)[0]], [d.box for d in original.propose(clip)[0]])


def test_box_conversion_and_owl_padding():
    boxes = cxcywh_to_xyxy_pixels(np.array([[0.5, 0.5, 0.2, 0.4]]), 100, 50)
    np.testing.assert_allclose(boxes, [[40, 15, 60, 35]])
    clip = np.zeros((1, 40, 80, 3), dtype=np.uint8)
    pixels, side = preprocess_owl(clip, 32)
    assert pixels.shape == (1, 3, 32, 32) and side == 80
    # The bottom half is padding (grey), the top half the black frame.
    assert pixels[0, :, -1, :].mean() > pixels[0, :, 0, :].mean()


def test_bad_setup_is_rejected():
    model, tokenizer = tiny_owlv2()
    with pytest.raises(ValueError, match="at least one non-empty text query"):
        OpenVocabularyDetector(model, tokenizer, ["", "  "])
    with pytest.raises(ValueError, match="score_threshold"):
        DetectorSettings(score_threshold=2.0)
    with pytest.raises(ValueError, match="uint8"):
        OpenVocabularyDetector(model, tokenizer, ["a person"]).propose(np.zeros((1, 8, 8, 3), np.float32))
