#!/usr/bin/python3
"""Independent reference for worker/inputs/tokenizer.c: BERT WordPiece as Hugging Face transformers'
BertTokenizer (the Python "slow" tokenizer) produces ids, written from its documented behaviour
with Python's own unicodedata, str.lower and str.split (transformers is not in Debian 12).

What transformers does for one text (tokenization_utils.PreTrainedTokenizer.tokenize, then
models/bert/tokenization_bert.BasicTokenizer and WordpieceTokenizer):
  - literal special tokens ([UNK] [SEP] [PAD] [CLS] [MASK]) are cut out whole;
  - with do_lower_case the rest is lower-cased one character at a time (a regex with "(.+?)");
  - BasicTokenizer: drop NUL, U+FFFD and category C* (but not \\t \\n \\r), whitespace -> space;
    spaces around CJK ideographs; NFC; str.split(); per word: lower() and strip accents (NFD, drop
    Mn); split off punctuation; WordPiece greedy longest match with "##", [UNK] past 100 chars;
  - [CLS] a [SEP] (b [SEP]), truncation longest-first from the end.

Usage:
  tokenizer_reference.py                 write tokenizer_glue.txt from ../shared (or
                                         $AUTOPEFT_SHARED) and run the edge-case self-check
  tokenizer_reference.py --ids VOCAB FILE [--pair] [--max-length N] [--no-lower-case]
                                         print ids of each line of FILE (pairs split on a tab),
                                         as `autopeft tokenize` does; used by the C test to show
                                         both id lists when they differ
"""
import argparse
import csv
import os
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIALS = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
SPECIAL_RE = re.compile("|".join(re.escape(s) for s in SPECIALS))
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
BLOCK = 256
FNV_OFFSET, FNV_PRIME, MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


class Vocab:
    def __init__(self, path):
        # open() in text mode reads "\n", "\r\n" and "\r" as line ends, as load_vocab does.
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        self.ids = {}
        for i, line in enumerate(lines):
            self.ids[line.rstrip("\n")] = i
        self.unk = self.ids["[UNK]"]

    def get(self, token):
        return self.ids.get(token)


def is_punct(ch):
    o = ord(ch)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(ch)[0] == "P"


def clean_and_space(text):
    out = []
    for ch in text:
        if ch in "\t\n\r" or ch == " " or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif ord(ch) == 0 or ord(ch) == 0xFFFD or unicodedata.category(ch)[0] == "C":
            continue
        elif any(lo <= ord(ch) <= hi for lo, hi in CJK):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    return "".join(out)


def strip_accents(word):
    return "".join(c for c in unicodedata.normalize("NFD", word)
                   if unicodedata.category(c) != "Mn")


def split_punct(word):
    pieces, cur = [], ""
    for ch in word:
        if is_punct(ch):
            if cur:
                pieces.append(cur)
                cur = ""
            pieces.append(ch)
        else:
            cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def wordpiece(word, vocab):
    if len(word) > 100:
        return [vocab.unk]
    out, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            found = vocab.get(piece)
            if found is not None:
                break
        else:
            return [vocab.unk]
        out.append(found)
        start = end
    return out


def basic_words(chunk, lower):
    if lower:
        chunk = "".join(c.lower() for c in chunk)
    chunk = unicodedata.normalize("NFC", clean_and_space(chunk))
    words = []
    for w in chunk.split():
        if lower:
            w = strip_accents(w.lower())
        words.extend(split_punct(w))
    return words


def pieces(text, vocab, lower=True):
    ids, pos = [], 0
    for m in SPECIAL_RE.finditer(text):
        for w in basic_words(text[pos:m.start()], lower):
            ids.extend(wordpiece(w, vocab))
        found = vocab.get(m.group(0))
        ids.append(vocab.unk if found is None else found)
        pos = m.end()
    for w in basic_words(text[pos:], lower):
        ids.extend(wordpiece(w, vocab))
    return ids


def encode(a, b, vocab, max_length=0, lower=True):
    """[CLS] a [SEP] (b [SEP]); longest-first truncation one token at a time, as transformers
    did before it computed the counts in closed form (the same result)."""
    ia = pieces(a, vocab, lower)
    ib = pieces(b, vocab, lower) if b is not None else None
    extra = 3 if ib is not None else 2
    if max_length:
        while len(ia) + (len(ib) if ib is not None else 0) + extra > max_length:
            if ib is None or len(ia) > len(ib):
                ia.pop()
            else:
                ib.pop()
    cls, sep = vocab.get("[CLS]"), vocab.get("[SEP]")
    ids = [cls] + ia + [sep]
    types = [0] * len(ids)
    if ib is not None:
        ids += ib + [sep]
        types += [1] * (len(ib) + 1)
    return ids, types


def fnv(h, data):
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def example_hash(h, ids, types):
    h = fnv(h, len(ids).to_bytes(4, "little"))
    for i, t in zip(ids, types):
        h = fnv(h, i.to_bytes(4, "little") + bytes([t]))
    return h


# The GLUE files as each task uses them: (task, folder, has header, text column(s)).
TASKS = [
    ("cola", "CoLA", False, [3]),
    ("sst2", "SST-2", True, ["sentence"]),
    ("mrpc", "MRPC", True, ["#1 String", "#2 String"]),
    ("stsb", "STS-B", True, ["sentence1", "sentence2"]),
]
MODES = [("full", 0), ("max24", 24)]


def read_glue(path, header, cols):
    # GLUE's own readers: tab-separated, no quoting; utf-8-sig drops MRPC's byte-order mark.
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r]
    if header:
        names, rows = rows[0], rows[1:]
        cols = [names.index(c) for c in cols]
    return [tuple(r[c] for c in cols) for r in rows]


def write_fixture(shared):
    vocab = Vocab(os.path.join(shared, "data/vocab/bert-base-uncased-vocab.txt"))
    lines = ["# tokenizer_glue.txt: generated by tokenizer_reference.py; do not edit.",
             "# block TASK SPLIT MODE FIRST COUNT TOKENS HASH: examples FIRST..FIRST+COUNT-1 of",
             "# glue/TASK/SPLIT.tsv tokenised with bert-base-uncased (lower case), MODE full (no",
             "# truncation) or maxN (max_length N); TOKENS the ids in all; HASH FNV-1a 64 over",
             "# each example's u32 length, then per token its u32 id and u8 type (little endian)."]
    total = 0
    for task, folder, header, cols in TASKS:
        for split in ("train", "dev"):
            rows = read_glue(os.path.join(shared, "data/glue", folder, split + ".tsv"), header,
                             cols)
            for mode, max_length in MODES:
                for first in range(0, len(rows), BLOCK):
                    h, ntok = FNV_OFFSET, 0
                    block = rows[first:first + BLOCK]
                    for r in block:
                        ids, types = encode(r[0], r[1] if len(r) > 1 else None, vocab,
                                            max_length)
                        h = example_hash(h, ids, types)
                        ntok += len(ids)
                    lines.append("block %s %s %s %d %d %d %016x" % (task, split, mode, first,
                                                                    len(block), ntok, h))
            lines.append("count %s %s %d" % (task, split, len(rows)))
            total += len(rows)
    with open(os.path.join(HERE, "tokenizer_glue.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return total


def self_check(vocab_path):
    """The hand-written expectations of tests/unit/worker/inputs/test_tokenizer.c, here too, so that both
    implementations answer to them."""
    v = Vocab(vocab_path)
    inv = {i: t for t, i in v.ids.items()}

    def toks(text, lower=True):
        return [inv[i] for i in pieces(text, v, lower)]
    assert toks("Héllo, Wörld!") == ["hello", ",", "world", "!"], toks("Héllo, Wörld!")
    assert toks("unaffable") == ["una", "##ffa", "##ble"], toks("unaffable")
    assert toks("中文") == ["中", "文"], toks("中文")
    assert toks("a\x00b\u200bc\ufffdd\x85e") == toks("abcde")
    assert toks("x" * 101) == ["[UNK]"]
    assert toks("") == []
    assert toks("[CLS] hi [MASK]") == ["[CLS]", "hi", "[MASK]"]
    assert toks("[cls]") == ["[", "cl", "##s", "]"], toks("[cls]")
    # 5 + 4 pieces into 8 - 3: one from the longer a, then b, a, b (b loses ties).
    ids, types = encode("one two three four five", "six seven eight nine", v, max_length=8)
    assert [inv[i] for i in ids] == ["[CLS]", "one", "two", "three", "[SEP]", "six", "seven",
                                     "[SEP]"], [inv[i] for i in ids]
    assert types == [0, 0, 0, 0, 0, 1, 1, 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", nargs=2, metavar=("VOCAB", "FILE"))
    ap.add_argument("--pair", action="store_true")
    ap.add_argument("--max-length", type=int, default=0)
    ap.add_argument("--no-lower-case", action="store_true")
    args = ap.parse_args()
    if args.ids:
        vocab = Vocab(args.ids[0])
        with open(args.ids[1], encoding="utf-8", errors="replace", newline="\n") as f:
            for line in f.read().split("\n")[:-1]:
                a, b = (line.split("\t", 1) + [""])[:2] if args.pair else (line, None)
                ids, _ = encode(a, b, vocab, args.max_length, not args.no_lower_case)
                print(" ".join(map(str, ids)))
        return
    shared = os.environ.get("AUTOPEFT_SHARED") or os.path.join(HERE, "..", "..", "..", "shared")
    vocab = os.path.join(shared, "data/vocab/bert-base-uncased-vocab.txt")
    if not os.path.exists(vocab):
        sys.exit("tokenizer_reference: %s is absent; set AUTOPEFT_SHARED" % vocab)
    self_check(vocab)
    total = write_fixture(shared)
    print("tokenizer_reference: %d examples, self-check passed, wrote tokenizer_glue.txt" % total)


if __name__ == "__main__":
    main()
