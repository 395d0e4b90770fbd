"""The offline CLIPTokenizer gives OpenAI CLIP's ids, as open_clip's own tokenizer does."""

import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer, default_bpe, tokenize
from transformers import CLIPTokenizer

from sdmodels.tokenizer import NUM_MERGES, byte_to_unicode, clip_tokenizer_files, clip_vocab, offline_clip_tokenizer

PROMPTS = [
    "a photo of a cat",
    "  A Photo   of an ASTRONAUT\triding a horse,\n on Mars!! ",
    "it's 1984: café au lait 🐱, 3.5 stars",
    "oil painting; (masterpiece:1.2) [by greg rutkowski] #art",
]
LONG_PROMPT = " ".join(["an extremely detailed matte painting of a castle"] * 20)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # keep the test's files out of the user's cache
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def reference():
    return SimpleTokenizer()


def test_special_ids_and_size(cache):
    tok = offline_clip_tokenizer()
    assert len(tok) == 49408
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (49406, 49407, 49407)
    assert tok.model_max_length == 77


def test_vocabulary_matches_open_clip(reference):
    vocab, merges = clip_vocab(default_bpe())
    assert len(merges) == NUM_MERGES and len(set(byte_to_unicode().values())) == 256
    ours = {t: i for t, i in vocab.items() if i < 49406}
    theirs = {t: i for t, i in reference.encoder.items() if i < 49406}  # open_clip names its specials differently
    assert ours == theirs


@pytest.mark.parametrize("prompt", PROMPTS)
def test_ids_match_open_clip(cache, reference, prompt):
    tok = offline_clip_tokenizer()
    assert tok(prompt).input_ids == [reference.sot_token_id, *reference.encode(prompt), reference.eot_token_id]


def test_padded_batch_matches_open_clip_tokenize(cache):
    tok = offline_clip_tokenizer(pad_token="!")  # open_clip pads with id 0, the "!" token, as SD 2.x does
    # A special "!" also splits "!!" into pad tokens (as in diffusers#4153), so those prompts are left out.
    prompts = [p for p in [*PROMPTS, LONG_PROMPT] if "!" not in p]
    ours = tok(prompts, padding="max_length", truncation=True, max_length=77, return_tensors="pt").input_ids
    assert torch.equal(ours, tokenize(prompts))


def test_save_pretrained_round_trip(cache, tmp_path):
    tok = offline_clip_tokenizer(model_max_length=64)
    tok.save_pretrained(tmp_path)
    again = CLIPTokenizer.from_pretrained(tmp_path)
    assert again.model_max_length == 64 and again.pad_token == tok.pad_token
    for prompt in [*PROMPTS, LONG_PROMPT]:
        assert again(prompt, truncation=True).input_ids == tok(prompt, truncation=True).input_ids


def test_files_have_the_hf_layout(tmp_path):
    directory = clip_tokenizer_files(tmp_path / "tok")
    merges = (directory / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0].startswith("#version") and len(merges) == NUM_MERGES + 1
    assert sorted(p.name for p in directory.iterdir()) == ["merges.txt", "vocab.json"]
