"""Load the labs' models: the hub model when reachable, else an embedded one.

``load_classifier(name)`` returns a sentiment / stance classifier and its tokenizer, loaded with
the ordinary ``AutoModelForSequenceClassification`` / ``AutoTokenizer.from_pretrained`` calls;
``load_language_model(name)`` returns Lab 5's causal language model (GPT-2) the same way, with
``AutoModelForCausalLM``. Either comes from the Hugging Face hub (tokenizers at pinned commits,
models at the revision ``ModelSpec`` / ``LanguageModelSpec`` names) or from a tiny model
committed under ``course_utils/assets/<folder>/`` (built by ``scripts/build_embedded_models.py``).
Lab code is therefore identical for both. Each prints one line saying which model it loaded.

Offline means ``COURSE_OFFLINE`` / ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` is set to
1/true/yes/on, or huggingface.co does not accept a TCP connection within a couple of
seconds -- never the hub client's minute of retries.

torch and transformers are imported inside the functions: ``import course_utils`` stays
cheap and the offline check works before any heavy import.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations; see the module docstring
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "LANGUAGE_MODELS",
    "LanguageModelSpec",
    "MODELS",
    "ModelSpec",
    "embedded_path",
    "embedding_layer",
    "is_offline",
    "load_classifier",
    "load_language_model",
    "logits_from_embeddings",
    "pick_device",
    "probability_function",
    "quiet_transformers",
    "reset_offline_cache",
]

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
BUILD_SCRIPT = "scripts/build_embedded_models.py"

HUB_HOST = "huggingface.co"
OFFLINE_ENV_VARS = ("COURSE_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ModelSpec:
    """Where one course classifier lives online and offline."""

    name: str
    hub_id: str
    # The model repo's revision. The three fine-tunes are read at "main": their full commit
    # hashes could not be looked up from the machine the course is built on (no hub access).
    # An instructor who wants results that cannot drift when an author pushes new weights
    # replaces it with the 40-hex commit shown on the repo's "Files and versions" page. The
    # tokenizers (`tokenizer_revision`) are pinned to commits.
    revision: str
    labels: tuple[str, ...]
    embedded_dir: str  # folder name under course_utils/assets/
    embedded_description: str
    tokenizer_id: str | None = None  # None: the model repo carries its own tokenizer
    tokenizer_revision: str | None = None

    @property
    def num_labels(self) -> int:
        return len(self.labels)


MODELS: dict[str, ModelSpec] = {
    "gpt2-imdb": ModelSpec(
        name="gpt2-imdb",
        hub_id="hipnologo/gpt2-imdb-finetune",
        revision="main",
        labels=("negative", "positive"),
        embedded_dir="gpt2-imdb",
        embedded_description="embedded tiny GPT-2",
        # The fine-tune keeps GPT-2's vocabulary; public uses of it load the tokenizer
        # from the base model, which is pinned (commit of openai-community/gpt2).
        tokenizer_id="openai-community/gpt2",
        tokenizer_revision="607a30d783dfa663caf39e06633721c8d4cfcd7e",
    ),
    "distilbert-imdb": ModelSpec(
        name="distilbert-imdb",
        hub_id="textattack/distilbert-base-uncased-imdb",
        revision="main",
        labels=("negative", "positive"),
        embedded_dir="distilbert-imdb",
        embedded_description="embedded tiny DistilBERT",
    ),
    "bert-climate": ModelSpec(
        name="bert-climate",
        hub_id="keanteng/bert-base-raw-climate-sentiment-wqf7007",
        revision="main",
        labels=("anti", "neutral", "pro", "news"),
        embedded_dir="bert-climate",
        embedded_description="embedded tiny BERT",
        # The fine-tune was trained on bert-base-uncased's vocabulary (pinned commit).
        tokenizer_id="bert-base-uncased",
        tokenizer_revision="86b5e0934494bd15c9632b12f734a8a67f723594",
    ),
}


@dataclass(frozen=True)
class LanguageModelSpec:
    """Where one course language model (a causal LM, Lab 5) lives online and offline.

    The tokenizer lives in the model repo, at the same pinned revision.
    """

    name: str
    hub_id: str
    revision: str  # a 40-hex commit of the hub repo
    embedded_dir: str  # folder name under course_utils/assets/
    embedded_description: str


# GPT-2 small, at the commit whose tokenizer the gpt2-imdb classifier already uses.
LANGUAGE_MODELS: dict[str, LanguageModelSpec] = {
    "gpt2": LanguageModelSpec(
        name="gpt2",
        hub_id="openai-community/gpt2",
        revision="607a30d783dfa663caf39e06633721c8d4cfcd7e",
        embedded_dir="gpt2-lm",
        embedded_description="embedded tiny GPT-2 language model",
    ),
}


# --------------------------------------------------------------------------------------
# Quiet libraries
# --------------------------------------------------------------------------------------
def quiet_transformers() -> None:
    """Silence transformers / huggingface_hub chatter on stderr.

    transformers 5 logs a colour "LOAD REPORT" table (as a warning) whenever checkpoint
    keys and model keys differ, plus progress bars for downloads; in a notebook that is
    red noise students take for errors. Errors are still shown.
    """
    # Set before tokenizers forks (DataLoader workers, nbgrader): avoids its fork warning.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Each library reads these variables when it loads; one loaded already is told by its own
    # functions below. So `import course_utils` loads neither (transformers alone takes 0.7 s).
    os.environ.update({"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_VERBOSITY": "error",
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()
        # The hub client warns on each retry ("Retrying in 8s [Retry 4/5]") when the network fails
        # after the probe; load_classifier then says in one line that it fell back.
        huggingface_hub.utils.logging.set_verbosity_error()


# --------------------------------------------------------------------------------------
# Offline detection
# --------------------------------------------------------------------------------------
_hub_probe: bool | None = None  # cached answer of the network probe for this process
_hub_probe_lock = threading.Lock()


def reset_offline_cache() -> None:
    """Forget the cached network probe (tests, or after the network came back)."""
    global _hub_probe
    with _hub_probe_lock:
        _hub_probe = None


def _env_says_offline() -> bool:
    return any(os.environ.get(var, "").strip().lower() in _TRUTHY for var in OFFLINE_ENV_VARS)


def _hub_answers(timeout: float) -> bool:
    """True when a TCP connection to the hub succeeds within ``timeout`` seconds.

    The connect runs in a daemon thread because the socket timeout does not cover the DNS
    lookup, which can block far longer on a machine without network.
    """
    outcome: dict[str, bool] = {}

    def probe() -> None:
        try:
            connection = socket.create_connection((HUB_HOST, 443), timeout=timeout)
        except Exception:  # DNS failure, refused, timeout, ... all mean "offline"
            outcome["ok"] = False
            return
        close = getattr(connection, "close", None)
        if close is not None:
            close()
        outcome["ok"] = True

    thread = threading.Thread(target=probe, name="course-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome.get("ok", False)


def is_offline(timeout: float = 2.0) -> bool:
    """Whether to use the embedded models and corpora instead of the hub.

    Environment variables are read on every call (cheap, and tests change them); the
    network probe runs at most once per process and never takes longer than ``timeout``.
    """
    global _hub_probe
    if _env_says_offline():
        return True
    with _hub_probe_lock:
        if _hub_probe is None:
            _hub_probe = _hub_answers(timeout)
        return not _hub_probe


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
def pick_device() -> torch.device:
    """CUDA when available, else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _check_name(name: object, example: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str such as {example!r}, got {type(name).__name__} {name!r}")


def _unknown(name: str, registry: dict) -> ValueError:
    """The error for a name in no registry: the known names, and the closest one."""
    known = ", ".join(registry)
    close = difflib.get_close_matches(name, list(registry), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown model {name!r}; known models: {known}.{hint}")


def _spec(name: object) -> ModelSpec:
    """The classifier registry entry for ``name``, with an error that lists the known names."""
    _check_name(name, "gpt2-imdb")
    if name in MODELS:
        return MODELS[name]
    if name in LANGUAGE_MODELS:
        raise ValueError(f"{name!r} is a language model, not a classifier: load it with "
                         f"load_language_model({name!r}). Classifiers: {', '.join(MODELS)}.")
    raise _unknown(name, MODELS)


def _language_model_spec(name: object) -> LanguageModelSpec:
    """The language-model registry entry for ``name``, with an error that lists the known names."""
    _check_name(name, "gpt2")
    if name in LANGUAGE_MODELS:
        return LANGUAGE_MODELS[name]
    if name in MODELS:
        raise ValueError(f"{name!r} is a classifier, not a language model: load it with "
                         f"load_classifier({name!r}). Language models: {', '.join(LANGUAGE_MODELS)}.")
    raise _unknown(name, LANGUAGE_MODELS)


def embedded_path(name: str) -> Path:
    """Folder of the embedded model ``name``, a classifier or a language model (it may not be built yet)."""
    if isinstance(name, str) and name in LANGUAGE_MODELS:
        return ASSETS_DIR / LANGUAGE_MODELS[name].embedded_dir
    return ASSETS_DIR / _spec(name).embedded_dir


def _display_path(path: Path) -> str:
    """``course_utils/assets/<name>``: short and the same on every machine."""
    try:
        return path.relative_to(PACKAGE_DIR.parent).as_posix()
    except ValueError:
        return str(path)


def _is_built(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the hub could not be used"; transformers wraps most in OSError."""
    errors: list[type[BaseException]] = [OSError, TimeoutError]
    # huggingface_hub 1.x talks to the hub through httpx, 2.x through httpx2; their errors
    # (e.g. a read timeout while AutoTokenizer lists a repo) can reach us unwrapped.
    for module in ("httpx", "httpx2"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def _from_pretrained(
    model_source: str,
    tokenizer_source: str,
    *,
    revision: str | None = None,
    tokenizer_revision: str | None = None,
    local_files_only: bool = False,
    task: str = "classifier",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The same two calls for hub ids and local folders.

    ``task`` picks the head: "classifier" (``AutoModelForSequenceClassification``) or
    "causal-lm" (``AutoModelForCausalLM``). Eager attention so ``output_attentions=True``
    returns the weights (SDPA does not); float32 so gradients (Integrated Gradients) are
    exact whatever dtype was saved.
    """
    import torch
    import transformers
    from transformers import AutoTokenizer

    auto_class = {"classifier": "AutoModelForSequenceClassification", "causal-lm": "AutoModelForCausalLM"}[task]
    model = getattr(transformers, auto_class).from_pretrained(
        model_source,
        revision=revision,
        attn_implementation="eager",
        dtype=torch.float32,
        local_files_only=local_files_only,
    )
    tokenizer = AutoTokenizer.from_pretrained(
        tokenizer_source, revision=tokenizer_revision, local_files_only=local_files_only
    )
    return model, tokenizer


def _load_from_hub(spec: ModelSpec | LanguageModelSpec) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if isinstance(spec, LanguageModelSpec):  # GPT-2's repo holds its tokenizer too
        return _from_pretrained(spec.hub_id, spec.hub_id, revision=spec.revision, tokenizer_revision=spec.revision,
                                task="causal-lm")
    if spec.tokenizer_id is None:  # tokenizer files live in the model repo, same commit
        return _from_pretrained(spec.hub_id, spec.hub_id, revision=spec.revision, tokenizer_revision=spec.revision)
    return _from_pretrained(
        spec.hub_id, spec.tokenizer_id, revision=spec.revision, tokenizer_revision=spec.tokenizer_revision
    )


# The embedded models as loaded, when this process keeps them (`keep_embedded_models`): (folder, task) -> both.
_kept: dict[tuple[str, str], tuple[PreTrainedModel, PreTrainedTokenizerBase]] | None = None
_kept_lock = threading.Lock()


def keep_embedded_models() -> None:
    """From now on, load each embedded model from disk once in this process and hand out copies.

    For the grading process, which loads the same few models again and again: the lab's set-up
    for every notebook it grades, and each hidden test that wants a model of its own (Lab 5's
    nine). A copy is a new model and tokenizer, equal to a fresh load and sharing with it and
    with earlier copies only what the tokenizer read while it was built (`_BUILD_ONLY`), in a
    tenth of a second for GPT-2 (a load: 0.35 s; most of a copy is the Rust backend's); loading
    consumes no random numbers, so a copy leaves the random state as a load would.
    """
    global _kept
    with _kept_lock:
        if _kept is None:
            _kept = {}


# A fast tokenizer's vocabulary and merges as Python objects: transformers hands them to the Rust
# backend while building the tokenizer and never reads them again (GPT-2's, BERT's), so every copy
# may share the kept ones. Deep-copying GPT-2's (50,257 entries and 50,000 merges) took 0.2 s a copy.
_BUILD_ONLY = ("_vocab", "_merges")


def _copy(kept: tuple[PreTrainedModel, PreTrainedTokenizerBase]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A deep copy of a kept model and tokenizer, sharing only the tokenizer's `_BUILD_ONLY` parts."""
    shared = [value for name in _BUILD_ONLY if (value := vars(kept[1]).get(name)) is not None]
    return copy.deepcopy(kept, {id(value): value for value in shared})


def _load_embedded(
    spec: ModelSpec | LanguageModelSpec, reason: str
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str]:
    folder = ASSETS_DIR / spec.embedded_dir
    if not _is_built(folder):
        raise FileNotFoundError(
            f"The embedded model {spec.name!r} is not built yet (expected in "
            f"{_display_path(folder)}/). Build it with `python {BUILD_SCRIPT} --only {spec.name}`, "
            f"or run online to use {spec.hub_id} from the Hugging Face hub."
        )
    task = "causal-lm" if isinstance(spec, LanguageModelSpec) else "classifier"
    if _kept is None:
        model, tokenizer = _from_pretrained(str(folder), str(folder), local_files_only=True, task=task)
    else:
        with _kept_lock:
            if (str(folder), task) not in _kept:  # kept as loaded: only copies are handed out
                _kept[str(folder), task] = _from_pretrained(str(folder), str(folder), local_files_only=True, task=task)
            model, tokenizer = _copy(_kept[str(folder), task])
    source = f"{spec.embedded_description} ({reason}) from {_display_path(folder)}"
    return model, tokenizer, source


def _load(
    spec: ModelSpec | LanguageModelSpec, offline: bool | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str]:
    """The hub model, or the embedded one when offline or when the hub fails; and where it came from."""
    if offline is None:
        offline = is_offline()
    if offline:
        return _load_embedded(spec, "offline")
    try:
        model, tokenizer = _load_from_hub(spec)
    except _network_errors() as exc:
        try:
            return _load_embedded(spec, f"hub failed: {type(exc).__name__}")
        except FileNotFoundError as missing:
            raise missing from exc
    return model, tokenizer, f"{spec.hub_id}@{spec.revision} from the Hugging Face hub"


def _ready_for_batches(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, device: torch.device) -> None:
    """Pad token, length limit, device and eval mode: what hub and embedded models both need."""
    # GPT-2 has no pad token; batches need one, and GPT2ForSequenceClassification uses
    # config.pad_token_id to find each row's last real token.
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    # truncation=True cuts at tokenizer.model_max_length; a hub tokenizer_config.json without
    # it leaves "no limit", and texts longer than the model's positions then crash it.
    positions = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if positions and tokenizer.model_max_length > positions:
        tokenizer.model_max_length = positions
    model.to(device)
    model.eval()


def _name_labels(model: PreTrainedModel, spec: ModelSpec) -> None:
    """Hub checkpoints often say LABEL_0, LABEL_1...: give them the course's label names."""
    generic = {i: f"LABEL_{i}" for i in range(spec.num_labels)}
    if model.config.num_labels == spec.num_labels and dict(model.config.id2label) == generic:
        model.config.id2label = dict(enumerate(spec.labels))
        model.config.label2id = {label: i for i, label in enumerate(spec.labels)}


def load_classifier(
    name: str,
    *,
    offline: bool | None = None,
    device: str | torch.device | None = None,
    verbose: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a course classifier and its tokenizer, ready for inference.

    Args:
        name: one of ``MODELS`` ("gpt2-imdb", "distilbert-imdb", "bert-climate").
        offline: True = embedded model, False = hub model, None = decide with ``is_offline()``.
            If the hub fails, the embedded model is used instead.
        device: where to put the model (default ``pick_device()``).
        verbose: print one line saying which model was loaded.

    Returns:
        ``(model, tokenizer)``: model in eval mode with eager attention and
        ``config.pad_token_id`` set; tokenizer with a pad token.

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: unknown ``name`` (the message lists the known ones), or a language model's
            name (the message says to use ``load_language_model``).
        FileNotFoundError: the embedded model is needed but has not been built.
    """
    import torch

    spec = _spec(name)
    target = pick_device() if device is None else torch.device(device)
    model, tokenizer, source = _load(spec, offline)
    _ready_for_batches(model, tokenizer, target)
    _name_labels(model, spec)
    if verbose:
        print(f"Loaded {spec.name}: {source}", flush=True)
    return model, tokenizer


def load_language_model(
    name: str = "gpt2",
    *,
    offline: bool | None = None,
    device: str | torch.device | None = None,
    verbose: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load Lab 5's causal language model (``GPT2LMHeadModel``) and its tokenizer.

    Online: GPT-2 small (``openai-community/gpt2`` at a pinned commit). Offline, or when the
    hub fails: the embedded miniature in ``course_utils/assets/gpt2-lm/`` -- GPT-2's own
    tokenizer and architecture, far smaller, trained on ``course_utils.continuations`` text
    (its model card says how well). The offline rules and the one printed line are
    ``load_classifier``'s.

    Args:
        name: one of ``LANGUAGE_MODELS`` ("gpt2").
        offline: True = embedded model, False = hub model, None = decide with ``is_offline()``.
        device: where to put the model (default ``pick_device()``).
        verbose: print one line saying which model was loaded.

    Returns:
        ``(model, tokenizer)``: model in eval mode with eager attention (``output_attentions=True``
        works), ``config.pad_token_id`` and ``generation_config.pad_token_id`` set to the
        end-of-text token; tokenizer with that token as its pad token (right padding, GPT-2's
        default: a row's next-token logits are at its last real position).

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: unknown ``name``, or a classifier's name (the message says to use
            ``load_classifier``).
        FileNotFoundError: the embedded model is needed but has not been built.
    """
    import torch

    spec = _language_model_spec(name)
    target = pick_device() if device is None else torch.device(device)
    model, tokenizer, source = _load(spec, offline)
    _ready_for_batches(model, tokenizer, target)
    # generate() reads its own config: without a pad id it warns on every call.
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if verbose:
        print(f"Loaded {spec.name}: {source}", flush=True)
    return model, tokenizer


# --------------------------------------------------------------------------------------
# Plumbing for gradient methods (Lab 3, Lab 4) and for `lime` (texts in, probabilities out)
# --------------------------------------------------------------------------------------
def embedding_layer(model: PreTrainedModel) -> torch.nn.Module:
    """The embedding block of a BERT-family classifier (``model.bert.embeddings`` for BERT).

    Its output -- word + position (+ token type) embeddings after LayerNorm -- is the layer
    the labs attribute on, as ``captum.attr.LayerIntegratedGradients(f, embedding_layer(model))``.
    """
    import torch

    block = getattr(getattr(model, "base_model", None), "embeddings", None)
    if not isinstance(block, torch.nn.Module):
        raise TypeError(
            f"{type(model).__name__} has no embedding block at model.base_model.embeddings: "
            "use a BERT-family classifier (bert-climate or distilbert-imdb)"
        )
    return block


def logits_from_embeddings(
    model: PreTrainedModel, embeddings: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Run ``model`` from its embedding block's output: ``[B, T, D]`` -> logits ``[B, C]``.

    The model is called on placeholder token ids while a forward hook replaces the
    embedding block's output by ``embeddings`` -- the way captum's layer methods work -- so
    gradients flow back to ``embeddings``. ``attention_mask`` defaults to all ones.
    """
    import torch

    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 3:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise ValueError(f"embeddings must be a tensor [batch, tokens, hidden], got {shape}")
    block = embedding_layer(model)
    batch, length, _ = embeddings.shape
    placeholder = torch.zeros(batch, length, dtype=torch.long, device=embeddings.device)
    if attention_mask is None:
        attention_mask = torch.ones_like(placeholder)
    handle = block.register_forward_hook(lambda module, inputs, output: embeddings)
    try:
        return model(input_ids=placeholder, attention_mask=attention_mask).logits
    finally:
        handle.remove()  # never leave the model rewired, even after an error


def probability_function(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64):
    """``predict(texts: list[str]) -> np.ndarray [N, C]``, columns in ``model.config.id2label`` order.

    Built on transformers' ``text-classification`` pipeline (batched, truncating, softmax),
    for ``lime`` and for the later labs' word-level metrics.
    """
    import numpy as np
    from transformers import pipeline

    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None,
                        device=next(model.parameters()).device)
    column = {label: i for i, label in model.config.id2label.items()}

    def predict(texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts, not one string: predict([text])")
        texts = list(texts)
        probs = np.zeros((len(texts), len(column)))
        if texts:
            for row, scores in enumerate(classify(texts, batch_size=batch_size, truncation=True)):
                for score in scores:
                    probs[row, column[score["label"]]] = score["score"]
        return probs

    return predict
