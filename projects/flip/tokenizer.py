"""CLIP's byte-level BPE tokenizer for FLIP, and caption vocabulary counts.

The tokenizer is OpenCLIP's ``SimpleTokenizer`` (a port of OpenAI CLIP's)
with the 49408-token vocabulary ``bpe_simple_vocab_16e6.txt.gz`` that the
``open_clip_torch`` wheel ships, so nothing is downloaded at run time. It is
registered in mmpretrain's TOKENIZER registry as ``CLIPBPETokenizer``;
``tokenizer(texts, context_length)`` returns ``[N, context_length]`` ids
``[SOT, bpe..., EOT, 0, ...]`` (lower-cased, ftfy-cleaned; too long captions
are cut and end with EOT). SOT = 49406 and EOT = 49407 are the two highest
ids, so the text tower finds EOT with ``argmax`` as CLIP does.
"""
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, List, Sequence, Union

from mmpretrain.registry import TOKENIZER
from open_clip.tokenizer import SimpleTokenizer

CLIP_VOCAB_SIZE = 49408
TOKENIZER.register_module(name='CLIPBPETokenizer', module=SimpleTokenizer)

# Caption vocabulary counts: the synthetic captions generator writes one
# next to its captions files (a dataset statistic; FLIP tokenises with BPE).
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def split_words(text: str) -> List[str]:
    """Lower-case words and single punctuation marks of ``text``."""
    return _WORD.findall(text.lower())


def build_vocab(captions: Iterable[str], max_size: int = None) -> List[str]:
    """Words of ``captions`` by decreasing frequency (ties alphabetically),
    after the specials ``<pad> <unk> <sot> <eot>``; at most ``max_size``."""
    counts = Counter(w for c in captions for w in split_words(c))
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = ['<pad>', '<unk>', '<sot>', '<eot>'] + words
    return vocab if max_size is None else vocab[:max_size]


def write_vocab(caption_files: Union[str, Sequence[str]], out: str,
                max_size: int = None) -> Path:
    """Write the word vocabulary of COCO-captions JSON file(s) to ``out``
    (one word per line)."""
    if isinstance(caption_files, (str, Path)):
        caption_files = [caption_files]
    captions = []
    for path in caption_files:
        doc = json.loads(Path(path).read_text())
        captions += [a['caption'] for a in doc['annotations']]
    out = Path(out)
    out.write_text('\n'.join(build_vocab(captions, max_size)) + '\n')
    return out
