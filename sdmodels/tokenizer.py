"""An offline `transformers.CLIPTokenizer` built from open_clip's shipped BPE file.

Diffusers pipelines want a `CLIPTokenizer`, which normally comes from a model
hub. The vocabulary it needs ships inside open_clip (OpenAI's
`bpe_simple_vocab_16e6.txt.gz`), so we rebuild `vocab.json` and `merges.txt`
from it the way OpenAI's simple tokenizer builds its vocabulary: ids match
OpenAI CLIP (<|startoftext|> 49406, <|endoftext|> 49407, 49408 tokens).

    tok = offline_clip_tokenizer()                 # SD 1.x style: pads with <|endoftext|>
    tok = offline_clip_tokenizer(pad_token="!")    # SD 2.x / open_clip style: pads with id 0

Two known differences from open_clip's tokenizer, both shared with the hub's
own SD tokenizers: the HF one does not run ftfy or unescape HTML entities
("&amp;", mojibake), and with pad_token="!" the "!" becomes a special token,
so "!!" encodes as two pads instead of one "!!" token (diffusers#4153).
"""

import gzip
import hashlib
import json
import os
from pathlib import Path

from open_clip.tokenizer import default_bpe
from transformers import CLIPTokenizer

from sdmodels.files import write_atomic

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
NUM_MERGES = 49152 - 256 - 2  # OpenAI's vocab budget: 49152 minus the 256 byte tokens minus the 2 specials
MERGES_HEADER = "#version: 0.2"  # first line of HF merges files; the BPE reader skips it


def byte_to_unicode() -> dict[int, str]:
    """Each byte's printable stand-in: printable Latin-1 bytes map to themselves, the rest
    (whitespace, control) to code points from 256 up, in byte order. Dict order is vocabulary order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    for n, b in enumerate(b for b in range(256) if b not in table):
        table[b] = chr(256 + n)
    return table


def clip_vocab(bpe_path: str | Path) -> tuple[dict[str, int], list[str]]:
    """(token -> id, merges as "a b" lines) from OpenAI's BPE file: bytes, bytes + '</w>', merges, BOS, EOS."""
    with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1:NUM_MERGES + 1]  # line 0 is the file's own version header
    chars = list(byte_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer_files(directory: str | Path, bpe_path: str | Path | None = None) -> Path:
    """Write `vocab.json` and `merges.txt` for `CLIPTokenizer` into `directory`; returns it.

    Files are written to temporaries and renamed, so concurrent writers never expose half a file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocab(bpe_path or default_bpe())
    write_atomic(directory / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    write_atomic(directory / "merges.txt", "\n".join([MERGES_HEADER, *merges]) + "\n")
    return directory


def cache_dir() -> Path:
    """Where the generated files live, keyed by the BPE file's hash so a changed file regenerates them."""
    digest = hashlib.sha256(Path(default_bpe()).read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "guidance-bench" / f"clip-tokenizer-{digest}"


def offline_clip_tokenizer(model_max_length: int = 77, pad_token: str = EOS) -> CLIPTokenizer:
    """A CLIPTokenizer with OpenAI CLIP's ids, built without any network access."""
    directory = cache_dir()
    if not (directory / "vocab.json").is_file() or not (directory / "merges.txt").is_file():
        clip_tokenizer_files(directory)
    return CLIPTokenizer.from_pretrained(str(directory), model_max_length=model_max_length, pad_token=pad_token)
