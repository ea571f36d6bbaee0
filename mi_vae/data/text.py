"""Sentences from Debian's ``fortunes`` package as token-id arrays (the MAE text experiments' stand-in).

Source: the fortune files in ``/usr/share/games/fortunes`` (``apt-get install -y fortunes``; every
file without an extension, entries separated by lines holding ``%``; the ``off/`` offensive set is
not read). Processing, all deterministic:
  1. each entry is split into sentences at ``.``, ``!`` or ``?`` followed by white space (and at
     blank lines); words are the lowercased runs of ``[a-z0-9']`` (punctuation dropped);
  2. sentences of 1..``MAX_WORDS`` (12) words are kept, duplicates removed, sorted;
  3. split: a fixed permutation (numpy seed 0) puts ``TEST_FRACTION`` (10%) in test;
  4. vocabulary: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the ``VOCAB_SIZE - 4``
     most frequent training words (ties alphabetical); other words -> ``<unk>``.
Examples are int32 ``[N, MAX_WORDS + 1]``: the word ids, ``<eos>``, ``<pad>`` after (the length of
a sentence is its number of non-pad ids, ``<eos>`` included). Labels: none.

Likelihood ``"tokens"`` (not "categorical", whose data are one-hot vectors): p(x|z) is a product of
categoricals over the non-pad positions, ``log p(x|z) = sum_t log softmax(logits_t)[x_t]``
(``mi_vae.models.text.token_log_prob``).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re

import numpy as np

from mi_vae.data.core import ArrayDataset, DatasetError

FORTUNES_DIR = "/usr/share/games/fortunes"
MAX_WORDS = 12
VOCAB_SIZE = 2004  # 2000 words + 4 specials
TEST_FRACTION = 0.1
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
#: token ids of the special tokens (their positions in ``SPECIALS``); models read them from here
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(len(SPECIALS))

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_WORD = re.compile(r"[a-z0-9']+")


def word_ids(ids) -> list[int]:
    """The word ids of one sentence: up to its first ``<eos>`` (id 2), without ``<pad>``/``<bos>`` (ids 0, 1)."""
    out = []
    for i in np.asarray(ids).astype(np.int64).reshape(-1):
        if i == SPECIALS.index(EOS):
            break
        if i > SPECIALS.index(BOS):
            out.append(int(i))
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class TextDataset(ArrayDataset):
    """An ``ArrayDataset`` of token ids with its vocabulary (``vocab[i]`` is the word of id i)."""

    vocab: tuple[str, ...] = ()

    def detokenize(self, ids) -> str:
        """Token ids (one sentence) -> text: the words of ``word_ids(ids)``."""
        return " ".join(self.vocab[i] if i < len(self.vocab) else UNK for i in word_ids(ids))


def fortune_entries(data_dir: str | None = None) -> list[str]:
    """All fortune entries (strings) of the package's files, file names sorted."""
    root = data_dir or FORTUNES_DIR
    hint = "install it with apt-get install -y fortunes"
    if not os.path.isdir(root):
        raise DatasetError(f"fortunes: {root} not found; {hint}")
    names = sorted(n for n in os.listdir(root) if "." not in n and os.path.isfile(os.path.join(root, n)))
    entries: list[str] = []
    for name in names:
        with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
            entries.extend(e for e in re.split(r"^%\s*$", f.read(), flags=re.M) if e.strip())
    if not entries:
        raise DatasetError(f"fortunes: no fortune files in {root}; {hint}")
    return entries


def sentences(entries: list[str], max_words: int = MAX_WORDS) -> list[tuple[str, ...]]:
    """Unique sorted word tuples of the entries' sentences with 1..max_words words."""
    out = set()
    for entry in entries:
        for sentence in _SENTENCE_END.split(entry):
            words = tuple(_WORD.findall(sentence.lower()))
            if 1 <= len(words) <= max_words:
                out.add(words)
    return sorted(out)


def load_fortunes(data_dir: str | None = None, vocab_size: int = VOCAB_SIZE,
                  max_words: int = MAX_WORDS) -> TextDataset:
    """The fortunes sentence dataset (see the module docstring)."""
    sents = sentences(fortune_entries(data_dir), max_words)
    order = np.random.default_rng(0).permutation(len(sents))
    n_test = max(1, int(round(TEST_FRACTION * len(sents))))
    test = [sents[i] for i in order[:n_test]]
    train = [sents[i] for i in order[n_test:]]
    counts = collections.Counter(w for s in train for w in s)
    words = sorted(counts, key=lambda w: (-counts[w], w))[: vocab_size - len(SPECIALS)]
    vocab = SPECIALS + tuple(words)
    index = {w: i for i, w in enumerate(vocab)}

    def encode(split):
        arr = np.zeros((len(split), max_words + 1), np.int32)
        for row, s in enumerate(split):
            ids = [index.get(w, UNK_ID) for w in s] + [EOS_ID]
            arr[row, : len(ids)] = ids
        return arr

    name = "fortunes" if max_words == MAX_WORDS else f"fortunes{max_words}"
    return TextDataset(name=name, train_x=encode(train), train_y=None, test_x=encode(test), test_y=None,
                       num_classes=None, likelihood="tokens", vocab=vocab)


__all__ = ["MAX_WORDS", "VOCAB_SIZE", "TextDataset", "fortune_entries", "load_fortunes", "sentences", "word_ids"]
