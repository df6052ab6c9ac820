"""Byte-level BPE trainer and encoder, written to a Hugging Face tokenizer.json (GPT-2 layout).

The pre-tokenizer is GPT-2's regex ('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+);
our corpus is ASCII, where the ASCII classes below are equivalent.
"""
import collections
import json
import re

EOT = "<|endoftext|>"
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()


def pretokenize(text):
    return ["".join(B2U[b] for b in w.encode("utf-8")) for w in PAT.findall(text)]


def word_counts(texts, counts=None):
    counts = counts if counts is not None else collections.Counter()
    for t in texts:
        counts.update(pretokenize(t))
    return counts


def train_bpe(texts, vocab_size, counts=None, forced=()):
    """Byte-level BPE. Incremental: pair counts are kept and only the words that contain the merged pair are
    updated, so a corpus of millions of words trains in seconds per hundred merges. `forced` words (pre-tokenized
    strings such as " Mary") get a count above everything else, so each of them ends up a single token.
    Deterministic: highest count, then the lexicographically smallest pair."""
    counts = word_counts(texts, counts)
    big = 1 + sum(counts.values())
    for w in forced:
        for p in pretokenize(w):
            counts[p] += big
    words = [list(w) for w in counts]
    freq = [counts[w] for w in counts]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, syms in enumerate(words):
        for a, b in zip(syms, syms[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)
    vocab = [B2U[b] for b in range(256)]
    merges = []
    target = vocab_size - 1  # leave room for <|endoftext|>
    while len(vocab) < target and pairs:
        (a, b), c = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if c < 2:
            break
        merges.append((a, b))
        new = a + b
        vocab.append(new)
        for i in sorted(where.pop((a, b), ())):
            syms = words[i]
            f = freq[i]
            for p in zip(syms, syms[1:]):
                pairs[p] -= f
                if pairs[p] <= 0:
                    del pairs[p]
            j, out = 0, []
            while j < len(syms):
                if j < len(syms) - 1 and syms[j] == a and syms[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pairs[p] += f
                where[p].add(i)
        pairs.pop((a, b), None)
    vocab.append(EOT)
    return vocab, merges


class BPE:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.merges = merges
        self.cache = {}
        self.eot = self.ids[EOT]
        U2B = {u: b for b, u in B2U.items()}
        self.u2b = U2B

    def _word(self, w):
        if w in self.cache:
            return self.cache[w]
        syms = list(w)
        while len(syms) > 1:
            best, bi = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            syms = syms[:bi] + [syms[bi] + syms[bi + 1]] + syms[bi + 2:]
        ids = [self.ids[s] for s in syms]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        parts = text.split(EOT)
        for j, part in enumerate(parts):
            if j > 0:
                out.append(self.eot)
            for w in pretokenize(part):
                out.extend(self._word(w))
        return out

    def decode(self, ids):
        bs = bytearray()
        for i in ids:
            t = self.vocab[i]
            if t == EOT:
                bs.extend(t.encode())
            else:
                bs.extend(self.u2b[c] for c in t)
        return bs.decode("utf-8", errors="replace")

    def token_str(self, i):
        return self.decode([i])


def save_tokenizer_json(vocab, merges, path):
    eot_id = len(vocab) - 1
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eot_id, "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(vocab)},
                  "merges": [a + " " + b for a, b in merges]},
    }
    with open(path, "w") as f:
        json.dump(tok, f, ensure_ascii=False, indent=None)


def save_tokenizer_config(path, max_len, eot_id):
    cfg = {"add_bos_token": False, "add_prefix_space": False, "bos_token": EOT, "eos_token": EOT,
           "unk_token": EOT, "pad_token": None, "model_max_length": max_len, "clean_up_tokenization_spaces": False,
           "tokenizer_class": "GPT2Tokenizer",
           "added_tokens_decoder": {str(eot_id): {"content": EOT, "lstrip": False, "normalized": True,
                                                  "rstrip": False, "single_word": False, "special": True}}}
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
