"""CLIP's byte-level BPE tokenizer for FLIP.

The tokenizer is OpenCLIP's ``SimpleTokenizer`` (a port of OpenAI CLIP's)
with the 49408-token vocabulary ``bpe_simple_vocab_16e6.txt.gz`` that the
``open_clip_torch`` wheel ships, so nothing is downloaded at run time. It is
registered in mmpretrain's TOKENIZER registry as ``CLIPBPETokenizer``;
``tokenizer(texts, context_length)`` returns ``[N, context_length]`` ids
``[SOT, bpe..., EOT, 0, ...]`` (lower-cased, ftfy-cleaned; too long captions
are cut and end with EOT). SOT = 49406 and EOT = 49407 are the two highest
ids, so the text tower finds EOT with ``argmax`` as CLIP does.
"""
from mmpretrain.registry import TOKENIZER
from open_clip.tokenizer import SimpleTokenizer

CLIP_VOCAB_SIZE = 49408
TOKENIZER.register_module(name='CLIPBPETokenizer', module=SimpleTokenizer)
