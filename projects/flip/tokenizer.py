"""Caption tokenizers for FLIP: a word-level tokenizer whose vocabulary file
is built from the training captions, and an adapter for CLIP's BPE tokenizer.

Every tokenizer exposes the same small interface, used by
:class:`projects.flip.TokenizeCaption` and the text encoder:

* ``encode(text) -> list[int]``: the ids of the words, without specials;
* ``decode(ids) -> str``;
* ``sot_id``, ``eot_id``, ``pad_id``, ``vocab_size``.

``tokenize(tokenizer, texts, context_length)`` turns captions into the CLIP
layout ``[SOT, w1, ..., wn, EOT, PAD, ...]`` of a fixed length; a caption
that is too long is cut and still ends with EOT (CLIP's ``truncate=True``).
The text encoder pools the feature at the EOT position.
"""
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, List, Sequence, Union

import torch
from mmpretrain.registry import TOKENIZER

PAD, UNK, SOT, EOT = '<pad>', '<unk>', '<sot>', '<eot>'
SPECIALS = (PAD, UNK, SOT, EOT)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def split_words(text: str) -> List[str]:
    """Lower-case words and single punctuation marks of ``text``."""
    return _WORD.findall(text.lower())


def build_vocab(captions: Iterable[str], max_size: int = None) -> List[str]:
    """The vocabulary of ``captions``: specials, then words by decreasing
    frequency (ties alphabetically), at most ``max_size`` entries."""
    counts = Counter(w for c in captions for w in split_words(c))
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = list(SPECIALS) + words
    return vocab if max_size is None else vocab[:max_size]


def write_vocab(caption_files: Union[str, Sequence[str]], out: str,
                max_size: int = None) -> Path:
    """Build the vocabulary of COCO-captions JSON file(s) and write it to
    ``out`` (one token per line, line number = id)."""
    if isinstance(caption_files, (str, Path)):
        caption_files = [caption_files]
    captions = []
    for path in caption_files:
        doc = json.loads(Path(path).read_text())
        captions += [a['caption'] for a in doc['annotations']]
    out = Path(out)
    out.write_text('\n'.join(build_vocab(captions, max_size)) + '\n')
    return out


@TOKENIZER.register_module()
class WordTokenizer:
    """Word-level tokenizer with a vocabulary file (one token per line).

    The file starts with ``<pad> <unk> <sot> <eot>`` (ids 0-3), as written
    by :func:`write_vocab`; unknown words map to ``<unk>``. Text is
    lower-cased and split into words and punctuation marks.

    Args:
        vocab_file (str): Path of the vocabulary file.
    """

    def __init__(self, vocab_file: str) -> None:
        path = Path(vocab_file)
        if not path.is_file():
            raise FileNotFoundError(
                f'WordTokenizer: vocabulary file {vocab_file} not found. '
                'Build it from the training captions with '
                '`projects.flip.write_vocab(captions_json, out)` (the '
                'synthetic COCO captions generator writes '
                'annotations/captions_vocab.txt).')
        self.vocab = path.read_text().splitlines()
        if tuple(self.vocab[:4]) != SPECIALS:
            raise ValueError(f'WordTokenizer: {vocab_file} must start with '
                             f'the special tokens {SPECIALS}, got '
                             f'{self.vocab[:4]}')
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError(f'WordTokenizer: {vocab_file} has duplicates')
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.pad_id, self.unk_id, self.sot_id, self.eot_id = range(4)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> List[int]:
        return [self.ids.get(w, self.unk_id) for w in split_words(text)]

    def decode(self, ids: Iterable[int]) -> str:
        words = [self.vocab[int(i)] for i in ids
                 if int(i) not in (self.pad_id, self.sot_id, self.eot_id)]
        text = ' '.join(words)
        return re.sub(r' ([^\sa-z0-9<])', r'\1', text)


@TOKENIZER.register_module()
class HFCLIPTokenizer:
    """CLIP's byte-level BPE tokenizer (49408 tokens) from a LOCAL copy.

    The hook for users who have CLIP's tokenizer files (``vocab.json`` and
    ``merges.txt``, e.g. a saved ``openai/clip-vit-base-patch16``
    directory): it wraps ``transformers.CLIPTokenizer`` with
    ``local_files_only=True``, so nothing is downloaded at run time.
    Requires the optional package ``transformers``. Set the text encoder's
    ``vocab_size=49408``.

    Args:
        path (str): Directory with the tokenizer files.
    """

    def __init__(self, path: str) -> None:
        try:
            from transformers import CLIPTokenizer
        except ImportError as e:
            raise ImportError('HFCLIPTokenizer needs the optional package '
                              '`transformers`; or use WordTokenizer') from e
        self.tok = CLIPTokenizer.from_pretrained(path, local_files_only=True)
        self.sot_id = self.tok.bos_token_id
        self.eot_id = self.tok.eos_token_id
        # CLIP pads with zeros (the causal mask makes padding irrelevant)
        self.pad_id = 0

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    def encode(self, text: str) -> List[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode([int(i) for i in ids],
                               skip_special_tokens=True)


def tokenize(tokenizer, texts: Union[str, Sequence[str]],
             context_length: int) -> torch.Tensor:
    """``[N, context_length]`` long tensor ``[SOT, ids..., EOT, PAD...]``.

    Captions longer than ``context_length - 2`` words are cut; the last
    position then holds EOT.
    """
    if context_length < 2:
        raise ValueError(f'context_length must be >= 2, got {context_length}')
    if isinstance(texts, str):
        texts = [texts]
    out = torch.full((len(texts), context_length), tokenizer.pad_id,
                     dtype=torch.long)
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text)[:context_length - 2]
        row = [tokenizer.sot_id] + ids + [tokenizer.eot_id]
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out
