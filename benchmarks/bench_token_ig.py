"""Token integrated gradients on every KerasHub CausalLM / text-classifier family (issue 23).

Tiny random-init configs built offline (vocabulary 64, 2 layers, width 32), ``--n`` token
sequences of length 8 (sample 1 padded from position 6), each sample's default target (the
predicted next token after the last non-padding position / the predicted class). Token IG at
the token embedding (the default layer), ``signed=True, normalize=False``. Reported per family:
the largest relative completeness error over the samples,
``|sum(A) - (f(x) - f(baseline))| / |f(x) - f(baseline)|``, and the mean number of path points.

- ``zero auto``: the zero embedding as baseline (``baseline=0.0``, the default before issue 23)
  with the default ``steps="auto"`` rule.
- ``zero mid255``: the zero embedding, a fixed 255-point midpoint rule.
- ``default``: the defaults now (the padding token's embedding at every position, padding and
  special tokens kept; ``steps="auto"``).
- ``--default-only``: only the defaults, with the largest ``jump_share`` (the part of
  ``|f(x) - f(baseline)|`` that jumps along the path, shared by the jump rule) and
  ``routed_share`` (its part shared by a top-k routing margin) over the samples.
- ``LRP`` (when --lrp; --lrp-only prints only these): ``nv.lrp`` at the token embedding,
  default options (composite ``epsilon_plus_flat``: ε on every dense layer of a transformer;
  ``embedding="sum"``: each token's relevance is its token + position (+ segment) embedding's).
  Largest over the samples of: the conservation error ``|sum(R) - score| / |score|``; the
  bias share ``|bias_relevance| / |score|``; the rules' residual
  ``|sum(R) + bias_relevance - score| / |score|``; the position/segment share
  ``|position_relevance| / |score|`` (already inside ``sum(R)``).

``--trained``: each family's tiny model (same config; Mistral's sliding window 8) trained on
the deciding-token task of ``tests/attribution/_text_tasks.py`` (``train_on_task``: classifiers
on the class, causal LMs on the token after the last one; :data:`TRAIN`, then one more epoch at
a time while the accuracy on 256 training samples is under ``--until``). Reported: the
held-out accuracy (all 96 held-out samples, the "neither" class included), the training time
and epochs; then on the first ``--samples`` held-out samples that hold a deciding word:
*decides* (replacing the deciding token by the padding token changes the predicted answer);
*before*: token IG from the zero embedding (the default baseline before issue 23) with a
255-point midpoint rule (the old adaptive rule is gone): the largest completeness error and
the deciding token's top-1 rate (``argmax`` of the signed map == its position); token IG with
the default options: the largest completeness error, the mean path points, the top-1 rate;
``nv.lrp`` with the default options: the first three LRP cells above and its top-1 rate.

Run: ``python benchmarks/bench_token_ig.py [--n 4] [--only llama,gpt2] [--lrp | --lrp-only |
--default-only]``
or ``python benchmarks/bench_token_ig.py --trained [--samples 32] [--only bert,llama]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # this checkout's keras_nnviz, not an install

from _common import print_table  # noqa: E402

V = 64


def families() -> dict:
    """name -> (task class name, backbone class name, backbone kwargs)."""
    lm = dict(vocabulary_size=V, num_layers=2, hidden_dim=32, intermediate_dim=64)
    gqa = dict(lm, num_query_heads=4, num_key_value_heads=2)
    mha = dict(lm, num_heads=2)
    enc = dict(mha, max_sequence_length=16)
    smol = dict(
        lm,
        num_attention_heads=4,
        num_key_value_heads=2,
        attention_bias=False,
        attention_dropout=0.0,
        rope_layer_enabled_list=[True, True],
        layer_types=["full_attention", "full_attention"],
        mlp_bias=False,
        layer_norm_epsilon=1e-6,
        max_position_embeddings=32,
        rope_theta=10000.0,
        partial_rotary_factor=1.0,
    )
    return {
        "gpt2": ("GPT2CausalLM", "GPT2Backbone", dict(enc)),
        "gpt_neox": ("GPTNeoXCausalLM", "GPTNeoXBackbone", dict(mha)),
        "opt": ("OPTCausalLM", "OPTBackbone", dict(enc)),
        "bloom": ("BloomCausalLM", "BloomBackbone", dict(mha)),
        "falcon": ("FalconCausalLM", "FalconBackbone", dict(lm, num_attention_heads=2)),
        "llama": ("LlamaCausalLM", "LlamaBackbone", dict(gqa)),
        "llama3": ("Llama3CausalLM", "Llama3Backbone", dict(gqa)),
        "mistral": ("MistralCausalLM", "MistralBackbone", dict(gqa, sliding_window=4)),
        "mixtral": ("MixtralCausalLM", "MixtralBackbone", dict(gqa, num_experts=4)),
        "qwen": ("QwenCausalLM", "QwenBackbone", dict(gqa)),
        "qwen2": ("Qwen2CausalLM", "Qwen2Backbone", dict(gqa)),
        "qwen3": ("Qwen3CausalLM", "Qwen3Backbone", dict(gqa, head_dim=8)),
        "qwen_moe": (
            "QwenMoeCausalLM",
            "QwenMoeBackbone",
            dict(
                gqa,
                moe_intermediate_dim=32,
                shared_expert_intermediate_dim=32,
                num_experts=4,
                top_k=2,
            ),
        ),
        "qwen3_moe": (
            "Qwen3MoeCausalLM",
            "Qwen3MoeBackbone",
            dict(gqa, moe_intermediate_dim=32, num_experts=4, top_k=2, head_dim=8),
        ),
        "gemma": ("GemmaCausalLM", "GemmaBackbone", dict(gqa, head_dim=8)),
        "gemma3": (
            "Gemma3CausalLM",
            "Gemma3Backbone",
            dict(gqa, head_dim=8, image_size=16, vision_encoder=None),
        ),
        "phi3": ("Phi3CausalLM", "Phi3Backbone", dict(gqa)),
        "smollm3": ("SmolLM3CausalLM", "SmolLM3Backbone", smol),
        "gpt_oss": ("GptOssCausalLM", "GptOssBackbone", dict(gqa, num_experts=4, head_dim=8)),
        "bert": ("BertTextClassifier", "BertBackbone", dict(enc)),
        "distilbert": ("DistilBertTextClassifier", "DistilBertBackbone", dict(enc)),
        "roberta": ("RobertaTextClassifier", "RobertaBackbone", dict(enc)),
        "xlm_roberta": ("XLMRobertaTextClassifier", "XLMRobertaBackbone", dict(enc)),
        "albert": (
            "AlbertTextClassifier",
            "AlbertBackbone",
            dict(enc, embedding_dim=16, num_groups=1, num_inner_repetitions=1),
        ),
        "deberta_v3": (
            "DebertaV3TextClassifier",
            "DebertaV3Backbone",
            dict(enc, bucket_size=4),
        ),
        "fnet": (
            "FNetTextClassifier",
            "FNetBackbone",
            dict(lm, max_sequence_length=16),
        ),
        "roformer_v2": (
            "RoformerV2TextClassifier",
            "RoformerV2Backbone",
            dict(enc, head_size=16),
        ),
    }


def build(name: str, **overrides):
    import keras
    import keras_hub

    task, backbone, kwargs = families()[name]
    kwargs = dict(kwargs, **overrides)
    keras.utils.set_random_seed(0)
    bb = getattr(keras_hub.models, backbone)(**kwargs)
    cls = getattr(keras_hub.models, task)
    if task.endswith("Classifier"):
        return cls(backbone=bb, num_classes=3, preprocessor=None)
    return cls(backbone=bb, preprocessor=None)


def inputs(model, n: int, length: int = 8):
    import numpy as np

    rng = np.random.default_rng(0)
    x = {}
    for t in model.inputs:
        if "padding_mask" in t.name:
            mask = np.ones((n, length), "int32")
            mask[1 % n, 6:] = 0
            x[t.name] = mask
        elif "segment" in t.name:
            x[t.name] = np.zeros((n, length), "int32")
        else:
            x[t.name] = rng.integers(5, V, size=(n, length)).astype("int32")
    return x


def measure(model, x, **kwargs) -> tuple[float, ...]:
    import numpy as np

    import keras_nnviz as nv

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = nv.integrated_gradients(model, x, signed=True, normalize=False, **kwargs)
    return (
        float(np.max(maps.completeness_error)),
        float(np.mean(maps.steps)),
        time.perf_counter() - start,
        float(np.max(maps.jump_share)),
        float(np.max(maps.routed_share)),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--only", default="")
    parser.add_argument("--lrp", action="store_true")
    parser.add_argument("--skip-midpoint", action="store_true")
    parser.add_argument("--lrp-only", action="store_true", help="only the LRP column")
    parser.add_argument("--default-only", action="store_true", help="only the defaults")
    parser.add_argument("--trained", action="store_true", help="train on the deciding-token task")
    parser.add_argument("--samples", type=int, default=32, help="--trained: held-out samples")
    parser.add_argument("--until", type=float, default=0.9, help="--trained: training accuracy")
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS, help="--trained")
    parser.add_argument("--lr", type=float, default=None, help="--trained: Adam's learning rate")
    args = parser.parse_args()
    names = [s for s in args.only.split(",") if s] or list(families())
    if args.trained:
        options = dict(until=args.until, max_epochs=args.max_epochs)
        if args.lr is not None:
            options["lr"] = args.lr
        trained_table(names, args.samples, options)
        return
    rows = []
    for name in names:
        try:
            model = build(name)
            x = inputs(model, args.n)
            if args.lrp_only:
                print(f"{name} | {lrp_error(model, x)}", flush=True)
                continue
            if args.default_only:
                err, points, seconds, jumps, routed = measure(model, x)
                cells = (f"{err:.1%} ({points:.0f})", f"{jumps:.1%}", f"{routed:.1%}")
                print(f"{name} | " + " | ".join(cells) + f" | {seconds:.0f} s", flush=True)
                continue
            zero = measure(model, x, baseline=0.0)
            mid = (float("nan"),) * 3
            if not args.skip_midpoint:
                mid = measure(model, x, baseline=0.0, steps=255)
            after = measure(model, x)
            row = [
                name,
                f"{zero[0]:.1%} ({zero[1]:.0f})",
                f"{mid[0]:.1%}",
                f"{after[0]:.1%} ({after[1]:.0f})",
            ]
            if args.lrp:
                row.extend(lrp_error(model, x).split(" | "))
        except Exception as exc:  # a family that does not build or run: say why, go on
            row = [name, f"error: {type(exc).__name__}: {str(exc)[:80]}", "", ""]
            if args.lrp:
                row.extend([""] * 4)
        print(" | ".join(row), flush=True)
        rows.append(tuple(row))
    header = ("family", "zero auto: max err (points)", "zero mid255", "default: max err (points)")
    if args.lrp:
        header = (*header, "LRP conservation", "bias share", "rule residual", "pos./seg. share")
    print_table(rows, header)


def lrp_error(model, x) -> str:
    """The four LRP cells (see the module docstring), joined by " | "."""
    return " | ".join(f"{c:.1%}" for c in lrp_cells(model, x)[0])


def lrp_cells(model, x):
    """``(the four LRP cells as fractions, the relevance maps)``."""
    import numpy as np

    import keras_nnviz as nv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = nv.lrp(model, x, normalize=False, signed=True)
    out = np.asarray(model(x, training=False), np.float64)
    if out.ndim == 3:  # causal LM: the next token after the last non-padding position
        last = np.asarray(x["padding_mask"]).sum(1) - 1
        out = out[np.arange(len(out)), last]
    score = out.max(axis=1)
    total = np.asarray(maps, np.float64).reshape(len(maps), -1).sum(1)
    scale = np.maximum(np.abs(score), 1e-12)
    cells = (
        np.max(maps.conservation_error),
        np.max(np.abs(maps.bias_relevance) / scale),
        np.max(np.abs(total + maps.bias_relevance - score) / scale),
        np.max(np.abs(maps.position_relevance) / scale),
    )
    return cells, maps


# --trained: classifiers / causal LMs train with the settings of trained_bert / trained_llama,
# then one epoch at a time while the accuracy on 256 training samples is under 90 %, up to
# MAX_EPOCHS in all
TRAIN = {
    False: dict(n=768, epochs=3, lr=2e-3, data_seed=0),
    True: dict(n=640, epochs=5, lr=3e-3, data_seed=1),
}
MAX_EPOCHS = 15
# Mistral's random-init config has sliding_window=4: with 2 layers the last position never sees
# position 0, so an eighth of the task cannot be learned. Trained, it attends to all 8 tokens.
TRAINED_CONFIG = {"mistral": dict(sliding_window=8)}


def trained_row(name: str, samples: int, options: dict) -> tuple[str, ...]:
    """One ``--trained`` row (see the module docstring); ``options`` override :data:`TRAIN`'s
    and carry ``until`` / ``max_epochs``."""
    import numpy as np

    import keras_nnviz as nv
    from tests.attribution import _text_tasks as tasks

    causal = not families()[name][0].endswith("Classifier")
    start = time.perf_counter()
    report = {}
    model, x, answer, position = tasks.train_on_task(
        lambda: build(name, **TRAINED_CONFIG.get(name, {})),
        causal,
        **dict(TRAIN[causal], **options),
        report=report,
    )
    seconds = time.perf_counter() - start
    x, position = {k: v[:samples] for k, v in x.items()}, position[:samples]
    decides = decided(model, x, position, causal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ig = nv.integrated_gradients(model, x, signed=True, normalize=False)
    ig_top1 = float((np.asarray(ig).argmax(axis=1) == position).mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # before: the zero embedding, 255-point midpoint rule
        zero = nv.integrated_gradients(
            model, x, baseline=0.0, steps=255, signed=True, normalize=False
        )
    zero_top1 = float((np.asarray(zero).argmax(axis=1) == position).mean())
    cells, relevance = lrp_cells(model, x)
    lrp_top1 = float((np.asarray(relevance).argmax(axis=1) == position).mean())
    accuracy = report["accuracy"]
    return (
        name,
        f"{accuracy:.0%}" + ("" if accuracy >= 0.9 else " (< 90 %)"),
        f"{seconds:.0f} s / {report['epochs']}",
        f"{decides:.0%}",
        f"{np.max(zero.completeness_error):.1%}",
        f"{zero_top1:.0%}",
        f"{np.max(ig.completeness_error):.1%} ({np.mean(ig.steps):.0f})",
        f"{ig_top1:.0%}",
        *(f"{c:.1%}" for c in cells[:3]),
        f"{lrp_top1:.0%}",
    )


def decided(model, x: dict, position, causal: bool) -> float:
    """Share of samples whose predicted answer changes when the deciding token is the padding
    token (id 0, token IG's default reference): where it does not, the token did not decide
    against that reference and IG (whose sum is f(x) - f(baseline)) need not rank it first."""
    import numpy as np

    def predicted(inputs):
        out = np.asarray(model(inputs, training=False))
        return (out[:, -1] if causal else out).argmax(axis=1)

    ids = x["token_ids"].copy()
    ids[np.arange(len(ids)), position] = 0
    return float((predicted(dict(x, token_ids=ids)) != predicted(x)).mean())


def trained_table(names: list[str], samples: int, options: dict) -> None:
    rows = []
    for name in names:
        try:
            row = trained_row(name, samples, options)
        except Exception as exc:  # a family that does not build, train or run: say why, go on
            row = (name, f"error: {type(exc).__name__}: {str(exc)[:80]}", *[""] * 10)
        print(" | ".join(row), flush=True)
        rows.append(row)
    header = (
        "family",
        "held-out accuracy",
        "training (s / epochs)",
        "decides",
        "before: IG zero emb., midpoint 255: max err",
        "before: IG top-1",
        "token IG, default: max err (points)",
        "IG top-1",
        "LRP conservation",
        "bias share",
        "rule residual",
        "LRP top-1",
    )
    print_table(rows, header)


if __name__ == "__main__":
    main()
