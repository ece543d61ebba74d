"""Tiny random-init KerasHub models: the transformers and LLMs people actually run, offline.

Each builder returns the same model for the whole test session (built on first use; all of them
together take a few seconds). Configs follow the project's limits: vocabulary <= 100, 2 layers,
width <= 32, images <= 64x64. No weights or vocabularies are downloaded: tokenizers are built from
:data:`VOCAB`, an in-test word list.
"""

from __future__ import annotations

import functools

import numpy as np

VOCABULARY = 64
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "an",
    "this",
    "that",
    "movie",
    "film",
    "plot",
    "actor",
    "story",
    "good",
    "great",
    "bad",
    "awful",
    "fine",
    "dull",
    "fun",
    "boring",
    "love",
    "hate",
    "was",
    "is",
    "it",
    "and",
    "but",
    "not",
    "very",
    "really",
    "so",
    "too",
    "quite",
    "just",
]


def _hub():
    import keras_hub

    return keras_hub


@functools.cache
def backbones() -> dict:
    """Every KerasHub backbone the tests explain, by short name."""
    M = _hub().models
    V = VOCABULARY
    lm = dict(vocabulary_size=V, num_layers=2, hidden_dim=32, intermediate_dim=64)
    gqa = dict(lm, num_query_heads=4, num_key_value_heads=2)
    return {
        "bert": M.BertBackbone(num_heads=2, max_sequence_length=16, **lm),
        "distilbert": M.DistilBertBackbone(num_heads=2, max_sequence_length=16, **lm),
        "gpt2": M.GPT2Backbone(num_heads=2, max_sequence_length=16, **lm),
        "llama": M.LlamaBackbone(**gqa),
        "gemma": M.GemmaBackbone(head_dim=8, **gqa),
        "mistral": M.MistralBackbone(sliding_window=4, **gqa),
        "qwen": M.QwenBackbone(**gqa),
        "phi3": M.Phi3Backbone(**gqa),
        "deberta": M.DebertaV3Backbone(num_heads=2, max_sequence_length=16, bucket_size=4, **lm),
        "t5": M.T5Backbone(num_heads=2, key_value_dim=16, **lm),
        "whisper": M.WhisperBackbone(
            num_heads=2,
            num_mels=8,
            max_encoder_sequence_length=16,
            max_decoder_sequence_length=8,
            **lm,
        ),
        "albert": M.AlbertBackbone(
            num_heads=2,
            embedding_dim=16,
            num_groups=1,
            num_inner_repetitions=1,
            max_sequence_length=16,
            **lm,
        ),
        "vit": M.ViTBackbone(
            image_shape=(32, 32, 3),
            patch_size=8,
            num_layers=2,
            num_heads=2,
            hidden_dim=32,
            mlp_dim=64,
        ),
    }


CAUSAL = {"gpt2", "llama", "gemma", "mistral", "qwen", "phi3"}


def inputs(model, n: int = 3, length: int = 8, pad_from: int = 6, seed: int = 0) -> dict:
    """Inputs for any backbone above: random token ids, sample 1 padded from ``pad_from``.

    Segment ids are 0 (every config has at least one segment); float inputs (Whisper's audio
    features, ViT's images) are Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    x = {}
    for t in model.inputs:
        shape = [n] + [d if d is not None else length for d in t.shape[1:]]
        if "padding_mask" in t.name:
            mask = np.ones(shape, "int32")
            mask[1, pad_from:] = 0
            x[t.name] = mask
        elif "segment" in t.name:
            x[t.name] = np.zeros(shape, "int32")
        elif "int" in str(t.dtype):
            x[t.name] = rng.integers(5, VOCABULARY, size=shape).astype("int32")
        else:
            x[t.name] = rng.normal(size=shape).astype("float32")
    return x


@functools.cache
def tokenizer():
    """A WordPiece tokenizer from :data:`VOCAB` (no download)."""
    return _hub().tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


@functools.cache
def bert_classifier():
    """A 2-class BERT text classifier on the tiny backbone (no preprocessor: ids in)."""
    return new_bert_classifier()


def new_bert_classifier(num_classes: int = 2):
    """A fresh :func:`bert_classifier` (uncached: for tests that train it)."""
    M = _hub().models
    backbone = M.BertBackbone(
        vocabulary_size=len(VOCAB),
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=16,
    )
    return M.BertTextClassifier(backbone, num_classes=num_classes, preprocessor=None)


@functools.cache
def gpt2_lm():
    """A GPT-2 causal LM on the tiny GPT-2 backbone (no preprocessor: ids in, (N, T, V) out)."""
    return _hub().models.GPT2CausalLM(backbones()["gpt2"], preprocessor=None)


@functools.cache
def vit_classifier():
    """A 3-class ViT image classifier on the tiny ViT backbone (32x32 images, 8x8 patches)."""
    return _hub().models.ViTImageClassifier(backbones()["vit"], num_classes=3, preprocessor=None)


@functools.cache
def dual_encoders() -> dict:
    """Tiny image-text dual encoders (CLIP, SigLIP): 32x32 images, 8x8 patches, 12 tokens."""
    M = _hub().models
    tower = dict(hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64)
    text = dict(vocabulary_size=VOCABULARY, embedding_dim=32, **tower)
    return {
        "clip": M.CLIPBackbone(
            M.CLIPVisionEncoder(patch_size=8, image_shape=(32, 32, 3), **tower),
            M.CLIPTextEncoder(max_sequence_length=12, **text),
            projection_dim=16,
        ),
        "siglip": M.SigLIPBackbone(
            M.SigLIPVisionEncoder(patch_size=8, image_shape=(32, 32, 3), **tower),
            M.SigLIPTextEncoder(max_sequence_length=12, **text),
        ),
    }
