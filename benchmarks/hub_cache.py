"""A Hugging Face hub cache of the course's hub models, written without the hub.

Laid out as huggingface_hub lays out its own (``models--<org>--<name>/{blobs,refs/main,
snapshots/<commit>}``), with the files the course's hub repos hold: the three fine-tunes
(revision "main"; textattack's 2020 DistilBERT as ``pytorch_model.bin`` with its own lone
``vocab.txt``, the others as ``model.safetensors``) and the separate tokenizer repos at the
commits ``ModelSpec`` pins, whose ``refs/main`` has moved on to a commit not in the cache.
GPT-2's tokenizer repo is also Lab 5's language model, so it holds a GPT2LMHeadModel's weights.

Weights are random, in the hub models' own architecture classes, either tiny (the hub-path
tests: loading, truncation, fallbacks) or at the hub models' full size (the real-size
benchmark: random weights cost as much time and memory as trained ones). The tokenizer files
are the real ones (``course_utils/assets/tokenizers``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes
from transformers import (
    AutoConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DistilBertForSequenceClassification,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    GPT2Tokenizer,
)

from course_utils.models import LANGUAGE_MODELS, MODELS

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER_FILES = ROOT / "course_utils" / "assets" / "tokenizers"
GPT2_FILES = TOKENIZER_FILES / "gpt2"
WORDPIECE_FILES = TOKENIZER_FILES / "bert-base-uncased"

# The commit each unpinned repo's refs/main points to, and the commit the pinned tokenizer
# repos' main has moved on to (not in the cache). Made up: only their form matters.
MAIN_COMMIT = {
    "hipnologo/gpt2-imdb-finetune": "1" * 40,
    "textattack/distilbert-base-uncased-imdb": "2" * 40,
    "keanteng/bert-base-raw-climate-sentiment-wqf7007": "3" * 40,
}
MOVED_ON = "f" * 40

ARCHITECTURE = {
    "gpt2-imdb": GPT2ForSequenceClassification,
    "distilbert-imdb": DistilBertForSequenceClassification,
    "bert-climate": BertForSequenceClassification,
}
POSITIONS = {"gpt2-imdb": 1024, "distilbert-imdb": 512, "bert-climate": 512}  # the hub models' limits

# config.json of the fine-tunes: the hub models' architectures and position limits, tiny
# widths. Their classes are LABEL_0, LABEL_1, ... (the default, which the course renames).
HUB_CONFIGS = {
    "gpt2-imdb": {
        "architectures": ["GPT2ForSequenceClassification"], "model_type": "gpt2", "vocab_size": 50257,
        "n_positions": 1024, "n_ctx": 1024, "n_embd": 16, "n_layer": 1, "n_head": 2,
        "bos_token_id": 50256, "eos_token_id": 50256,  # no pad_token_id, as GPT-2's own config
    },
    "distilbert-imdb": {
        "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
        "vocab_size": 30522, "max_position_embeddings": 512, "dim": 16, "hidden_dim": 32, "n_layers": 1,
        "n_heads": 2, "pad_token_id": 0,
    },
    "bert-climate": {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 30522,
        "max_position_embeddings": 512, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "type_vocab_size": 2, "pad_token_id": 0,
        "id2label": {str(i): f"LABEL_{i}" for i in range(4)}, "label2id": {f"LABEL_{i}": i for i in range(4)},
    },
}
# The hub models' own widths: GPT-2 small (124M parameters), DistilBERT-base (67M), BERT-base (110M).
FULL_SIZE = {
    "gpt2-imdb": {"n_embd": 768, "n_layer": 12, "n_head": 12},
    "distilbert-imdb": {"dim": 768, "hidden_dim": 3072, "n_layers": 6, "n_heads": 12},
    "bert-climate": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                     "num_attention_heads": 12},
}
# config.json of the base repos the tokenizers come from (AutoTokenizer reads model_type there).
# GPT-2's is also Lab 5's language model (``LANGUAGE_MODELS["gpt2"]``, the same repo and commit),
# so it carries weights too: tiny widths for the hub-path tests, GPT-2 small's own at full size.
GPT2_BASE_CONFIG = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024,
    "n_ctx": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12, "bos_token_id": 50256, "eos_token_id": 50256,
}
TINY_GPT2_BASE = {"n_embd": 32, "n_layer": 2, "n_head": 2}
BERT_BASE_CONFIG = {
    "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 30522,
    "max_position_embeddings": 512, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "type_vocab_size": 2, "pad_token_id": 0,
}
# textattack's tokenizer files (2020): vocab.txt, a 48-byte tokenizer_config.json and the
# special-tokens map; the tokenizer class comes from config.json's model_type.
TEXTATTACK_TOKENIZER_CONFIG = b'{"do_lower_case": true, "model_max_length": 512}'
TEXTATTACK_SPECIAL_TOKENS = (
    b'{"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", '
    b'"mask_token": "[MASK]"}'
)
# Older tokenizer configs, as other hub repos have them: the legacy "max_len", or no length at
# all (the limit then came from a table inside transformers, which transformers 5 no longer has).
LEGACY_TOKENIZER_CONFIGS = {
    "max_len": b'{"do_lower_case": true, "max_len": 512}',
    "no length": b'{"do_lower_case": true}',
}

# --------------------------------------------------------------------------------------
# The fake hub cache
# --------------------------------------------------------------------------------------
def repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}"


def add_snapshot(cache: Path, repo_id: str, commit: str, files: dict[str, bytes], main: str | None = None) -> None:
    """One commit of ``repo_id`` as huggingface_hub caches it: blobs, snapshot links, refs/main."""
    folder = repo_folder(cache, repo_id)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir(exist_ok=True)
    for name, content in files.items():
        blob = folder / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(main or commit)


def hub_config(name: str, full_size: bool = False) -> dict:
    """config.json of a fine-tune: tiny widths, or the hub model's own with ``full_size``."""
    return {**HUB_CONFIGS[name], **(FULL_SIZE[name] if full_size else {})}


def random_state(architecture: type, config: dict, full_size: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of ``architecture`` built from ``config`` (config.json's keys) with seeded random weights."""
    torch.manual_seed(17)
    settings = {key: value for key, value in config.items() if key != "architectures"}
    # Tiny models get wide initial weights, so that probabilities differ from text to text (the
    # default 0.02 gives about 0.5 for everything, where a wrong token would go unnoticed); the
    # full-size ones keep the default: only their cost matters.
    model = architecture(AutoConfig.for_model(**settings, **({} if full_size else {"initializer_range": 0.5})))
    return {key: tensor.contiguous() for key, tensor in model.state_dict().items()}


def weights(name: str, full_size: bool = False) -> bytes:
    """Random weights of the hub model's class, in the repo's file format."""
    state = random_state(ARCHITECTURE[name], hub_config(name, full_size), full_size)
    if name == "distilbert-imdb":
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()
    return safetensors_bytes(state, metadata={"format": "pt"})


def language_model_files(full_size: bool = False) -> dict[str, bytes]:
    """config.json and random weights of GPT-2's base repo (a GPT2LMHeadModel), as the hub holds
    them: the output layer is tied to the token embeddings, so ``lm_head.weight`` is not stored."""
    config = {**GPT2_BASE_CONFIG, **({} if full_size else TINY_GPT2_BASE)}
    state = random_state(GPT2LMHeadModel, config, full_size)
    del state["lm_head.weight"]
    return {"config.json": as_json(config), "model.safetensors": safetensors_bytes(state, metadata={"format": "pt"})}


def tokenizer_json(tokenizer_class, folder: Path) -> bytes:
    """tokenizer.json as the base repos carry it, built from the classic files."""
    return tokenizer_class.from_pretrained(str(folder)).backend_tokenizer.to_str().encode()


def as_json(value: dict) -> bytes:
    return json.dumps(value, indent=2).encode()


def add_model_repo(cache: Path, name: str, textattack_tokenizer_config: bytes = TEXTATTACK_TOKENIZER_CONFIG,
                   full_size: bool = False) -> None:
    spec = MODELS[name]
    files = {"config.json": as_json(hub_config(name, full_size))}
    if name == "distilbert-imdb":
        files.update({
            "pytorch_model.bin": weights(name, full_size),
            "vocab.txt": (WORDPIECE_FILES / "vocab.txt").read_bytes(),
            "tokenizer_config.json": textattack_tokenizer_config,
            "special_tokens_map.json": TEXTATTACK_SPECIAL_TOKENS,
        })
    else:
        files["model.safetensors"] = weights(name, full_size)
    add_snapshot(cache, spec.hub_id, MAIN_COMMIT[spec.hub_id], files)


def add_tokenizer_repos(cache: Path, full_size: bool = False) -> None:
    gpt2, bert = MODELS["gpt2-imdb"], MODELS["bert-climate"]
    language_model = LANGUAGE_MODELS["gpt2"]
    assert (language_model.hub_id, language_model.revision) == (gpt2.tokenizer_id, gpt2.tokenizer_revision)
    add_snapshot(cache, gpt2.tokenizer_id, gpt2.tokenizer_revision, {
        **language_model_files(full_size),
        "tokenizer_config.json": b'{"model_max_length": 1024}',
        "vocab.json": (GPT2_FILES / "vocab.json").read_bytes(),
        "merges.txt": (GPT2_FILES / "merges.txt").read_bytes(),
        "tokenizer.json": tokenizer_json(GPT2Tokenizer, GPT2_FILES),
    }, main=MOVED_ON)
    add_snapshot(cache, bert.tokenizer_id, bert.tokenizer_revision, {
        "config.json": as_json(BERT_BASE_CONFIG),
        "tokenizer_config.json": b'{"do_lower_case": true, "model_max_length": 512}',
        "vocab.txt": (WORDPIECE_FILES / "vocab.txt").read_bytes(),
        "tokenizer.json": tokenizer_json(BertTokenizer, WORDPIECE_FILES),
    }, main=MOVED_ON)


def write_hub_cache(cache: Path, full_size: bool = False) -> Path:
    """The course's three hub models and the two tokenizer repos (GPT-2's with Lab 5's language
    model), cached as the hub client does."""
    for name in MODELS:
        add_model_repo(cache, name, full_size=full_size)
    add_tokenizer_repos(cache, full_size=full_size)
    return cache
